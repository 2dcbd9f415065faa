//! `arbitrary::Arbitrary` for [`Program`], for the cargo-fuzz target: the
//! fuzzer's bytes pick a [`TaskSpec`] tree within the usual bounds, which
//! [`Program::new`] lowers.

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::program::{Link, MAX_DEPTH, MAX_STEPS, MAX_TASKS, Program, RawStep, TaskSpec};

impl<'a> Arbitrary<'a> for Program {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let abort_on_drop = u.arbitrary()?;
        let mut budget = MAX_TASKS - 1;
        let root = spec(u, 0, &mut budget)?;
        Ok(Program::new(&root, abort_on_drop))
    }
}

fn spec(u: &mut Unstructured<'_>, depth: usize, budget: &mut usize) -> Result<TaskSpec> {
    let value = u.int_in_range(0..=99)?;
    let len = u.int_in_range(0..=MAX_STEPS)?;
    let mut steps = Vec::with_capacity(len);
    for _ in 0..len {
        let step = match u.int_in_range(0..=11u8)? {
            0 if depth < MAX_DEPTH && *budget > 0 => {
                *budget -= 1;
                let link = match u.int_in_range(0..=3u8)? {
                    0 => Link::ToChild,
                    1 => Link::FromChild,
                    _ => Link::None,
                };
                RawStep::Spawn(spec(u, depth + 1, budget)?, link)
            }
            0 | 1 => RawStep::Yield,
            2 => RawStep::Sleep(*u.choose(&[0, 1, 2, 5])?),
            3 => RawStep::Await(u.int_in_range(0..=7)?),
            4 => RawStep::Abort(u.int_in_range(0..=7)?),
            5 => RawStep::SendChild(u.int_in_range(0..=7)?),
            6 => RawStep::RecvChild(u.int_in_range(0..=7)?),
            7 => RawStep::SendParent,
            8 => RawStep::RecvParent,
            9 => RawStep::Random,
            10 => RawStep::Try(u.int_in_range(0..=7)?),
            _ => RawStep::Panic,
        };
        steps.push(step);
    }
    Ok(TaskSpec { value, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_bytes_give_a_bounded_program() {
        for seed in 0..200u32 {
            let bytes: Vec<u8> = (0..512u32)
                .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed * 97) >> 13) as u8)
                .collect();
            let p = Program::arbitrary(&mut Unstructured::new(&bytes)).unwrap();
            assert!(p.len() <= MAX_TASKS);
            assert!(
                p.nodes
                    .iter()
                    .all(|n| n.ops.len() <= MAX_STEPS && n.depth <= MAX_DEPTH)
            );
        }
    }
}
