//! The core mirrors the spec: every op's `Params::default()` holds the spec's defaults (and, since
//! the generated `Params` literal names every field, the struct has exactly the spec's params), and
//! every enum has the spec's values with their codes, through `ALL`, `code`, `as_str`, `parse` and
//! `from_code`, refusing anything else with the message the bindings show. The spec's side is
//! `common/generated.rs` (rank-relax-codegen); `pnpm codegen:check` keeps it current.

mod common;

use common::generated::{core_enums, default_params, Value, ENUMS, OPS};
use rank_relax::{ErrorKind, Real};

fn params_defaults_agree<T: Real>(dtype: &str) {
    let checks = default_params::<T>();
    let ops: Vec<&str> = checks.iter().map(|c| c.op).collect();
    let spec: Vec<&str> = OPS.iter().map(|o| o.name).collect();
    assert_eq!(ops, spec, "one Params check per op of the spec");
    let wrong: Vec<String> = checks
        .iter()
        .filter(|c| !c.agree)
        .map(|c| {
            format!(
                "{}: Params::<{dtype}>::default() is {} but the spec's defaults give {}",
                c.op, c.core, c.spec
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn params_defaults_are_the_spec_defaults() {
    params_defaults_agree::<f64>("f64");
    params_defaults_agree::<f32>("f32");
}

#[test]
fn enums_are_the_spec_enums() {
    let core = core_enums();
    let names: Vec<&str> = core.iter().map(|e| e.name).collect();
    let spec: Vec<&str> = ENUMS.iter().map(|e| e.name).collect();
    assert_eq!(names, spec);
    for (e, s) in core.iter().zip(ENUMS) {
        let name = s.name;
        assert_eq!(e.all, s.values, "{name}: ALL as (as_str, code)");
        for &(value, code) in s.values {
            assert_eq!(
                (e.parse)(value),
                Ok((value, code)),
                "{name}: parse({value:?})"
            );
            assert_eq!(
                (e.from_code)(code),
                Ok((value, code)),
                "{name}: from_code({code})"
            );
        }

        // Anything else is refused, naming every value in code order.
        let quoted: Vec<String> = s.values.iter().map(|(v, _)| format!("{v:?}")).collect();
        let numbered: Vec<String> = s.values.iter().map(|(v, c)| format!("{c} ({v})")).collect();
        for bad in ["", "up", &s.values[0].0.to_uppercase()] {
            let err = (e.parse)(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument);
            assert_eq!(
                err.message,
                format!(
                    "{} must be one of {}, got {bad:?}",
                    s.arg,
                    quoted.join(", ")
                ),
            );
        }
        for bad in [-1, s.values.len() as i32, i32::MAX] {
            let err = (e.from_code)(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument);
            assert_eq!(
                err.message,
                format!(
                    "{} must be one of {}, got {bad}",
                    s.arg,
                    numbered.join(", ")
                ),
            );
        }
    }
}

#[test]
fn enum_param_defaults_are_values_of_their_enum() {
    for op in OPS {
        for p in op.params {
            if let Value::Enum(value, code) = p.default {
                assert!(
                    ENUMS.iter().any(|e| e.values.contains(&(value, code))),
                    "{}: {} defaults to {value:?} = {code}, not a value of any enum",
                    op.name,
                    p.name
                );
            }
        }
    }
}

#[test]
fn every_op_of_the_spec_is_tested() {
    // Every op runs through the generated dispatch (masks.rs, bad_input.rs); beyond that, each is
    // in the harness above or has tests of its own that call it: a test file here or the unit
    // tests of its kernel file.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<String> = std::fs::read_dir(root.join("tests"))
        .expect("tests/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| std::fs::read_to_string(p).expect("a test file"))
        .collect();
    for op in OPS.iter().map(|o| o.name) {
        if common::OPS.contains(&op) {
            continue;
        }
        let kernel = std::fs::read_to_string(root.join(format!("src/ops/{op}.rs")))
            .unwrap_or_else(|e| panic!("{op}: its kernel file: {e}"));
        let called = files.iter().any(|t| t.contains(&format!("{op}::")));
        assert!(
            called || kernel.contains("#[test]"),
            "{op}: not in the harness, and no test file calls it and its kernel file has no tests"
        );
    }
}
