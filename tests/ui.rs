//! Compile errors of `#[cached]`: one mistake per file in `tests/ui/`, each
//! with the compiler's output it must produce in the `.stderr` beside it.
//! Regenerate after an intended change with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
