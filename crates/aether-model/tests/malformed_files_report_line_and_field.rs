//! Bad model files give a typed error with line, column and field path; nothing panics.

mod common;

use aether_model::{Format, Model, ModelError, ParseError};
use proptest::prelude::*;

fn toml_err(text: &str) -> ParseError {
    Model::from_toml_str(text).expect_err("the text is not a valid model")
}

fn json_err(text: &str) -> ParseError {
    Model::from_json_str(text).expect_err("the text is not a valid model")
}

const HEADER: &str = "domain = \"Bank\"\n[[contexts]]\nname = \"Banking\"\n";

#[test]
fn toml_wrong_type_names_line_and_field() {
    let err = toml_err(&format!(
        "{HEADER}[[contexts.policies]]\nname = \"P\"\nwhen = 3\n"
    ));
    assert_eq!(err.format, Format::Toml);
    assert_eq!((err.line, err.column), (6, 8));
    assert_eq!(err.path, "contexts[0].policies[0].when");
    assert!(err.message.contains("expected a string"), "{}", err.message);
    assert_eq!(
        err.to_string(),
        "invalid TOML model at line 6, column 8, field `contexts[0].policies[0].when`: \
         invalid type: integer `3`, expected a string"
    );
}

#[test]
fn toml_unknown_field_is_refused() {
    let err = toml_err(&format!(
        "{HEADER}[[contexts.read_models]]\nname = \"R\"\nfed = [\"E\"]\n"
    ));
    assert_eq!(err.line, 6);
    assert_eq!(err.path, "contexts[0].read_models[0].fed");
    assert!(
        err.message.contains("unknown field `fed`"),
        "{}",
        err.message
    );
}

#[test]
fn toml_missing_name_points_at_the_table() {
    let err = toml_err(&format!(
        "{HEADER}\n[[contexts.aggregates]]\ndescription = \"no name\"\n"
    ));
    assert_eq!(err.line, 5);
    assert_eq!(err.path, "contexts[0].aggregates[0]");
    assert!(
        err.message.contains("missing field `name`"),
        "{}",
        err.message
    );
}

#[test]
fn toml_element_in_a_list_has_its_index() {
    let text = format!(
        "{HEADER}[[contexts.aggregates]]\nname = \"A\"\n[[contexts.aggregates.commands]]\n\
         name = \"C\"\nemits = [\"E\", 4]\n"
    );
    let err = toml_err(&text);
    assert_eq!(err.line, 8);
    assert_eq!(err.path, "contexts[0].aggregates[0].commands[0].emits[1]");
}

#[test]
fn toml_syntax_error_has_a_line() {
    let err = toml_err("domain = \"Bank\"\n[[contexts]\nname = \"B\"\n");
    assert_eq!(err.line, 2);
    assert!(err.column > 0);
    assert!(!err.message.contains('\n'), "one line: {}", err.message);
}

#[test]
fn toml_missing_domain() {
    let err = toml_err("");
    assert_eq!(err.path, "");
    assert!(
        err.message.contains("missing field `domain`"),
        "{}",
        err.message
    );
}

#[test]
fn json_errors_have_line_column_and_field() {
    let err = json_err("{\"domain\": \"Bank\",\n \"contexts\": [{\"name\": \"B\",\n  \"policies\": [{\"name\": \"P\", \"wen\": \"E\"}]}]}");
    assert_eq!(err.format, Format::Json);
    assert_eq!(err.line, 3);
    assert_eq!(err.path, "contexts[0].policies[0].wen");
    assert!(
        err.message.contains("unknown field `wen`"),
        "{}",
        err.message
    );
    assert!(
        !err.message.contains("at line"),
        "the position is not repeated: {}",
        err.message
    );

    let err = json_err("{\"domain\": \"Bank\"} trailing");
    assert_eq!((err.line, err.column), (1, 20));
    let err = json_err("{\"domain\": ");
    assert_eq!(err.line, 1);
}

#[test]
fn deeply_nested_input_is_an_error_not_a_stack_overflow() {
    let n = 100_000;
    let err = toml_err(&format!("domain = {}{}", "[".repeat(n), "]".repeat(n)));
    assert!(err.message.contains("recursion limit"), "{}", err.message);
    let err = toml_err(&format!("domain = {}{}", "{a=".repeat(n), "}".repeat(n)));
    assert_eq!(err.line, 1);
    let err = json_err(&format!(
        "{{\"people\": {}{}}}",
        "[".repeat(n),
        "]".repeat(n)
    ));
    assert_eq!(err.line, 1);
}

#[test]
fn files_load_and_save_by_extension() {
    let dir = std::env::temp_dir().join(format!("aether-model-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = Model::load(common::workspace_file("docs/model/bank.toml")).unwrap();
    for name in ["bank.json", "bank.toml", "BANK.JSON"] {
        let path = dir.join(name);
        model.save(&path).unwrap();
        assert_eq!(Model::load(&path).unwrap(), model, "{name}");
    }
    assert!(matches!(
        model.save(dir.join("bank.yaml")),
        Err(ModelError::UnknownFormat(_))
    ));
    assert!(matches!(
        Model::load(dir.join("missing.toml")),
        Err(ModelError::Io { action: "read", .. })
    ));
    std::fs::write(dir.join("bad.json"), "{\"domain\": 1}").unwrap();
    match Model::load(dir.join("bad.json")) {
        Err(ModelError::Parse { path, source: e }) => {
            assert_eq!(path, dir.join("bad.json"));
            assert_eq!(e.path, "domain");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text at all: a model or a typed error, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}|[\\[\\]{}\"=,:a-z\n 0-9.]{0,200}") {
        let _ = Model::from_toml_str(&text);
        let _ = Model::from_json_str(&text);
    }

    /// Damaging a valid file anywhere gives a model or an error with a usable position.
    #[test]
    fn truncated_bank_files_give_positioned_errors(cut in 0usize..4000, json in any::<bool>()) {
        let model = Model::load(common::workspace_file("docs/model/bank.toml")).unwrap();
        let text = if json { model.to_json_string().unwrap() } else { model.to_toml_string().unwrap() };
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) { cut -= 1; }
        let lines = text[..cut].lines().count().max(1);
        match Model::from_str_as(&text[..cut], if json { Format::Json } else { Format::Toml }) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.line <= lines + 1, "line {} beyond {} lines: {e}", e.line, lines),
        }
    }
}
