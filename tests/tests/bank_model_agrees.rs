//! The EventStorming model of the bank (`docs/model/bank.toml`) and the bank example's
//! aggregates (`crates/aether/examples/bank/domain.rs`) agree: same aggregates, same
//! commands, same events. If this fails, fix whichever side is wrong and regenerate
//! `docs/model/bank.md` (see `docs/model.md`).

#[path = "../../crates/aether/examples/bank/domain.rs"]
mod domain;

use aether::model::{Code, Model};
use aether::DescribeAggregate;

fn bank_model() -> Model {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/model/bank.toml");
    Model::load(path).unwrap_or_else(|e| panic!("{:#}", anyhow::Error::new(e)))
}

#[test]
fn the_bank_model_is_valid() {
    let findings = bank_model().validate();
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn the_bank_model_agrees_with_the_example_aggregates() {
    let code = [domain::Account::describe(), domain::Transfer::describe()];
    let findings = bank_model().check_against(&code);
    let report: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(
        findings.is_empty(),
        "model and code disagree:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_check_would_notice_a_drift() {
    // The same check fails as soon as the code grows a command the model lacks.
    let mut account = domain::Account::describe();
    account.commands.push("CloseAccount".to_owned());
    let findings = bank_model().check_against(&[account, domain::Transfer::describe()]);
    let codes: Vec<_> = findings
        .iter()
        .map(|f| (f.code, f.location.path.as_str()))
        .collect();
    assert_eq!(codes, [(Code::CommandNotInModel, "code[0].commands[3]")]);
}
