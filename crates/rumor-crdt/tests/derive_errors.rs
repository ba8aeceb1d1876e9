//! `#[derive(Crdt)]` refuses what it cannot make a CRDT, with an error
//! that points at the cause: a field that is not a CRDT (in a generic struct
//! too), an enum, a struct without fields, an unknown setting; and it takes
//! generic and tuple structs (`tests/ui/pass/`). (trybuild compiles each file in
//! `tests/ui/` and compares the compiler's message with the `.stderr`
//! beside it; `TRYBUILD=overwrite` rewrites them.)

#[test]
fn the_derive_refuses_what_is_not_a_struct_of_crdts_and_names_the_cause() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
