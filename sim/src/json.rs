//! JSON text for the files detsim writes (trace files, result records), through
//! `serde-json-core`.
//!
//! Why not `serde_json`: every crate a user's test links is in the user's crate graph,
//! and `serde_json` implements `PartialEq<Value>` for `u32`, `i64`, `str`, `bool`, … —
//! so, linked, it makes `assert_eq!(v, vec![])` on a `Vec<u32>` ambiguous (E0283) in
//! every crate that depends on detsim. `serde-json-core` adds no trait impls on types
//! it does not own and writes what `serde_json` writes (floats through `ryu`), but for
//! the exponent of a float from 1e16 on (`1e16` where `serde_json` writes `1e+16`).
//!
//! `serde-json-core` serializes into a slice; [`to_string`] grows the buffer and starts
//! again until the text fits.

use serde::Serialize;

/// `value` as compact JSON text.
///
/// Panics only if `value`'s `Serialize` implementation fails of its own accord (detsim
/// serializes plain structs, strings, numbers and string-keyed maps, which never do).
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T, size_hint: usize) -> String {
    let mut buf = vec![0; size_hint.max(256)];
    loop {
        match serde_json_core::to_slice(value, &mut buf) {
            Ok(len) => {
                buf.truncate(len);
                return String::from_utf8(buf).expect("serde-json-core writes UTF-8");
            }
            Err(serde_json_core::ser::Error::BufferFull) => {
                let grown = buf.len() * 2;
                buf.resize(grown, 0);
            }
            Err(error) => panic!("a value detsim writes as JSON failed to serialize: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::to_string;

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Arg {
        Text(String),
        Number(u64),
        Flag(bool),
    }

    #[derive(Serialize)]
    struct Sample {
        name: &'static str,
        #[serde(rename = "traceEvents")]
        floats: Vec<f64>,
        big: u64,
        small: u32,
        signed: i64,
        absent: Option<String>,
        present: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u64>,
        args: BTreeMap<String, Arg>,
        nested: Vec<Vec<u8>>,
    }

    fn sample() -> Sample {
        let mut args = BTreeMap::new();
        args.insert("zeta".into(), Arg::Number(7));
        args.insert(
            "alpha".into(),
            Arg::Text("t2 \"reader\"\\ on\nnode-1 ✗ é".into()),
        );
        args.insert("open at the end".into(), Arg::Flag(true));
        Sample {
            name: "tab\there, cr\r, quote \", slash /, backslash \\",
            floats: vec![
                0.0,
                1.0,
                0.5,
                1_000_000.001,
                123_456_789_012.5,
                3e-7,
                f64::from(u32::MAX) + 0.25,
            ],
            big: u64::MAX,
            small: 3,
            signed: -42,
            absent: None,
            present: Some(String::new()),
            skipped: None,
            args,
            nested: vec![vec![], vec![1, 2]],
        }
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let sample = sample();
        assert_eq!(
            to_string(&sample, 0),
            serde_json::to_string(&sample).unwrap()
        );
    }

    #[test]
    fn floats_from_1e16_on_differ_from_serde_json_only_in_the_exponent_sign() {
        // serde_json writes `1e+16`, ryu `1e16`: both JSON, the same number (a trace's
        // `ts` reaches 1e16 µs after three centuries of simulated time).
        let floats = [1e16, 1.234_567_890_123_456_7e17, f64::MAX];
        let text = to_string(&floats[..], 0);
        assert_eq!(text, "[1e16,1.2345678901234566e17,1.7976931348623157e308]");
        let parsed: Vec<f64> = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, floats);
    }

    #[test]
    fn a_buffer_too_small_grows_until_the_text_fits() {
        let long: Vec<String> = (0..1000).map(|i| format!("event {i}")).collect();
        let text = to_string(&long, 1);
        assert!(text.len() > 256 * 16, "{}", text.len());
        assert_eq!(text, serde_json::to_string(&long).unwrap());
    }
}
