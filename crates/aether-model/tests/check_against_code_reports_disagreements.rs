//! The check of a model against aggregate descriptions from code.

use aether_core::{AggregateDescription, DescribeAggregate};
use aether_model::{Aggregate, BoundedContext, Code, Command, Model, Severity};

fn described(name: &str, commands: &[&str], events: &[&str]) -> AggregateDescription {
    AggregateDescription::new(name, commands.iter().copied(), events.iter().copied())
}

fn model() -> Model {
    Model::new("Shop")
        .context(
            BoundedContext::new("Sales")
                .aggregate(
                    Aggregate::new("Order")
                        .command(Command::new("PlaceOrder").emits("OrderPlaced"))
                        .command(Command::new("CancelOrder").emits("OrderCancelled"))
                        .event("OrderPlaced")
                        .event("OrderCancelled"),
                )
                .aggregate(Aggregate::new("Invoice")),
        )
        .context(BoundedContext::new("Shipping").aggregate(Aggregate::new("Parcel")))
}

#[test]
fn agreeing_code_gives_no_findings() {
    struct Order;
    impl DescribeAggregate for Order {
        const TYPE_NAME: &'static str = "Order";
        fn command_names() -> &'static [&'static str] {
            &["CancelOrder", "PlaceOrder"]
        }
        fn event_names() -> &'static [&'static str] {
            &["OrderPlaced", "OrderCancelled"]
        }
    }
    let code = [
        Order::describe(),
        described("Invoice", &[], &[]),
        described("Parcel", &[], &[]),
    ];
    assert_eq!(model().check_against(&code), []);
}

#[test]
fn every_disagreement_is_reported() {
    let code = [
        described(
            "Order",
            &["PlaceOrder", "RefundOrder"],
            &["OrderPlaced", "OrderRefunded"],
        ),
        described("Customer", &["Register"], &[]),
        described("Order", &[], &[]),
        described("Parcel", &[], &[]),
    ];
    let findings = model().check_against(&code);
    assert!(findings.iter().all(|f| f.severity == Severity::Error));
    let got: Vec<(Code, &str, Vec<&str>)> = findings
        .iter()
        .map(|f| {
            (
                f.code,
                f.location.path.as_str(),
                f.location.names.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Code::CommandNotInCode,
                "contexts[0].aggregates[0].commands[1]",
                vec!["Sales", "Order", "CancelOrder"]
            ),
            (
                Code::CommandNotInModel,
                "code[0].commands[1]",
                vec!["Order", "RefundOrder"]
            ),
            (
                Code::EventNotInCode,
                "contexts[0].aggregates[0].events[1]",
                vec!["Sales", "Order", "OrderCancelled"]
            ),
            (
                Code::EventNotInModel,
                "code[0].events[1]",
                vec!["Order", "OrderRefunded"]
            ),
            (
                Code::AggregateNotInCode,
                "contexts[0].aggregates[1]",
                vec!["Sales", "Invoice"]
            ),
            (Code::AggregateNotInModel, "code[1]", vec!["Customer"]),
            (Code::DuplicateAggregateInCode, "code[2]", vec!["Order"]),
        ]
    );
    assert_eq!(
        findings[1].to_string(),
        "error[command-not-in-model] at code[0].commands[1] (Order > RefundOrder): the code's \
         aggregate \"Order\" has command \"RefundOrder\", the model's does not"
    );
}

#[test]
fn an_aggregate_name_in_two_contexts_is_ambiguous() {
    let model = model().context(BoundedContext::new("Billing").aggregate(Aggregate::new("Parcel")));
    let findings = model.check_against(&[
        described(
            "Order",
            &["PlaceOrder", "CancelOrder"],
            &["OrderPlaced", "OrderCancelled"],
        ),
        described("Invoice", &[], &[]),
        described("Parcel", &[], &[]),
    ]);
    let codes: Vec<_> = findings
        .iter()
        .map(|f| (f.code, f.location.path.as_str()))
        .collect();
    assert_eq!(codes, [(Code::AmbiguousAggregate, "code[2]")]);
    assert!(findings[0]
        .message
        .contains("contexts[1].aggregates[0], contexts[2].aggregates[0]"));
}

#[test]
fn empty_code_means_every_model_aggregate_is_missing() {
    let findings = model().check_against(&[]);
    let codes: Vec<_> = findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, [Code::AggregateNotInCode; 3]);
}
