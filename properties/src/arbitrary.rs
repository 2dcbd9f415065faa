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
        // A spawn three times in fifteen, while depth and budget allow.
        let step = match u.int_in_range(0..=14u8)? {
            0..=2 if depth < MAX_DEPTH && *budget > 0 => {
                *budget -= 1;
                let link = match u.int_in_range(0..=3u8)? {
                    0 => Link::ToChild,
                    1 => Link::FromChild,
                    _ => Link::None,
                };
                RawStep::Spawn(spec(u, depth + 1, budget)?, link)
            }
            0..=3 => RawStep::Yield,
            4 => RawStep::Sleep(*u.choose(&[0, 1, 2, 5])?),
            5 => RawStep::Await(u.int_in_range(0..=7)?),
            6 => RawStep::Abort(u.int_in_range(0..=7)?),
            7 => RawStep::SendChild(u.int_in_range(0..=7)?),
            8 => RawStep::RecvChild(u.int_in_range(0..=7)?),
            9 => RawStep::SendParent,
            10 => RawStep::RecvParent,
            11 => RawStep::Random,
            12 => RawStep::Try(u.int_in_range(0..=7)?),
            13 => RawStep::Timeout(u.int_in_range(0..=7)?, *u.choose(&[0, 1, 2, 5])?),
            _ => RawStep::Panic,
        };
        steps.push(step);
    }
    Ok(TaskSpec { value, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` bytes of xorshift noise: fuzzer-like input, deterministic.
    fn noise(seed: u32, len: usize) -> Vec<u8> {
        let mut x = u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn any_bytes_give_a_bounded_program() {
        for seed in 0..200u32 {
            let bytes = noise(seed, 512);
            let p = Program::arbitrary(&mut Unstructured::new(&bytes)).unwrap();
            assert!(p.len() <= MAX_TASKS);
            assert!(
                p.nodes
                    .iter()
                    .all(|n| n.ops.len() <= MAX_STEPS && n.depth <= MAX_DEPTH)
            );
        }
    }

    #[test]
    fn arbitrary_programs_pass_the_checks() {
        for seed in 0..64u32 {
            let bytes = noise(seed, 256);
            let p = Program::arbitrary(&mut Unstructured::new(&bytes)).unwrap();
            for sched in crate::Sched::ALL {
                let (run, checked) = crate::check::run_and_check(&p, sched, u64::from(seed));
                if let Err(v) = checked {
                    panic!("{v}\n{p:?}\n{:#?}", run.events);
                }
            }
        }
    }
}
