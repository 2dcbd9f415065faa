//! Empty: the tests are tokio's own, copied into `tests/` by `run.sh`.
