//! The Mermaid output, compared exactly with committed snapshots (including hostile names),
//! and the committed bank diagram in `docs/model/bank.md` kept fresh.

mod common;

use aether_model::{
    Aggregate, BoundedContext, Command, ExternalSystem, Hotspot, Model, Policy, ReadModel,
};
use common::{assert_matches_file, snapshot_file, workspace_file};

fn bank() -> Model {
    Model::load(workspace_file("docs/model/bank.toml")).expect("docs/model/bank.toml loads")
}

/// Names that break naive Mermaid output: quotes, brackets of every shape, pipes, arrows,
/// entity codes, markup, comments, keywords, backticks, line breaks and Unicode.
fn hostile() -> Model {
    Model::new("Hostile \"domain\"")
        .person("Customer \"VIP\" [gold]")
        .person("end")
        .external_system(ExternalSystem::new("Pay|Pal (ext) {v2}").emits("Paid #quot; <b>bold</b>"))
        .context(
            BoundedContext::new("Ctx ]] [[ \"quoted\"")
                .aggregate(
                    Aggregate::new("Aggr{{egate}}")
                        .command(
                            Command::new("Do \"it\" --> now")
                                .issued_by("Customer \"VIP\" [gold]")
                                .issued_by("end")
                                .emits("Done; %% not a comment"),
                        )
                        .command(
                            Command::new("Ünïcödé 🏦 名前 العربية")
                                .issued_by("Pay|Pal (ext) {v2}")
                                .emits("line\nbreak\ttab\r"),
                        )
                        .event("Done; %% not a comment")
                        .event("line\nbreak\ttab\r"),
                )
                .event("Paid #quot; <b>bold</b>")
                .policy(
                    Policy::new("When `paid` & done :::policy")
                        .when("Paid #quot; <b>bold</b>")
                        .then("Do \"it\" --> now"),
                )
                .read_model(
                    ReadModel::new("(( view )) >x] -.- |y|")
                        .fed_by("Done; %% not a comment")
                        .fed_by("line\nbreak\ttab\r"),
                )
                .hotspot(Hotspot::new("Why \\ \"this\"?").about("Aggr{{egate}}")),
        )
        .hotspot(Hotspot::new("subgraph x[\"y\"]").about("end"))
}

#[test]
fn bank_diagram_matches_snapshot() {
    assert_matches_file(snapshot_file("bank.mmd"), &bank().to_mermaid());
}

#[test]
fn hostile_names_match_snapshot() {
    let model = hostile();
    assert!(model.validate().is_empty(), "{:#?}", model.validate());
    assert_matches_file(snapshot_file("hostile.mmd"), &model.to_mermaid());
}

#[test]
fn empty_model_matches_snapshot() {
    assert_matches_file(
        snapshot_file("empty.mmd"),
        &Model::new("Nothing yet").to_mermaid(),
    );
}

#[test]
fn committed_bank_page_is_fresh() {
    // docs/model/bank.md is generated; regenerate it with AETHER_BLESS=1 or with
    // `cargo run -p aether-model --example render -- docs/model/bank.toml --markdown docs/model/bank.md`.
    assert_matches_file(workspace_file("docs/model/bank.md"), &bank().to_markdown());
}

#[test]
fn bank_summary_matches_snapshot() {
    assert_matches_file(snapshot_file("bank-summary.txt"), &bank().summary());
}

#[test]
fn hostile_labels_are_escaped_and_quoted() {
    let diagram = hostile().to_mermaid();
    // Every quote inside a label is an entity code, so each node line has exactly its two
    // delimiting quotes, and no line was broken by a name.
    for line in diagram.lines() {
        let quotes = line.matches('"').count();
        assert!(
            quotes == 0 || quotes == 2,
            "line with {quotes} quotes: {line}"
        );
    }
    assert!(diagram.contains(r#"p0(["Customer #quot;VIP#quot; [gold]"]):::person"#));
    assert!(diagram.contains(r#"c0_e0["Paid #35;quot; #lt;b#gt;bold#lt;/b#gt;"]:::event"#));
    assert!(diagram.contains(r#"c0_a0_e1["line break tab "]:::event"#));
    assert!(diagram.contains(r#"c0_p0{{"When #96;paid#96; #amp; done :::policy"}}:::policy"#));
    assert!(diagram.contains("Ünïcödé 🏦 名前 العربية"));
    // `end` as a name never becomes an id.
    assert!(diagram.contains(r#"p1(["end"]):::person"#));
    assert!(diagram.contains("p1 --> c0_a0_c0"));
}
