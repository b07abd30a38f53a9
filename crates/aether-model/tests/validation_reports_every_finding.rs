//! Validation: every finding at once, with severity, code and location, in a fixed order.

mod common;

use aether_model::{
    Aggregate, BoundedContext, Code, Command, ExternalSystem, Hotspot, Model, Policy, ReadModel,
    Severity,
};

/// (severity, code, path) of each finding, for exact comparisons.
fn summary(model: &Model) -> Vec<(Severity, Code, String)> {
    model
        .validate()
        .into_iter()
        .map(|f| (f.severity, f.code, f.location.path))
        .collect()
}

#[test]
fn the_bank_model_has_no_findings() {
    let model = Model::load(common::workspace_file("docs/model/bank.toml")).unwrap();
    assert_eq!(model.validate(), []);
}

/// A model with one of each problem validation finds, in a known order.
fn broken_model() -> Model {
    Model::new("Shop")
        .person("Clerk")
        .person("Clerk")
        .external_system(
            ExternalSystem::new("Psp")
                .emits("PaymentReceived")
                .emits("Nope"),
        )
        .context(
            BoundedContext::new("Sales")
                .aggregate(
                    Aggregate::new("Order")
                        .command(
                            Command::new("PlaceOrder")
                                .issued_by("Clerk")
                                .emits("OrderPlaced"),
                        )
                        .command(Command::new("CancelOrder").issued_by("Nobody"))
                        .command(Command::new("ShipOrder").emits("Shipped"))
                        .event("OrderPlaced")
                        .event("OrderCancelled"),
                )
                .aggregate(Aggregate::new("Cart").command(Command::new("Order").emits("Carted")))
                .event("PaymentReceived")
                .policy(
                    Policy::new("ShipWhenPaid")
                        .when("PaymentReceived")
                        .then("ShipOrder"),
                )
                .policy(Policy::new("Typo").when("OrderPlacd").then("Ship"))
                .policy(
                    Policy::new("WrongKind")
                        .when("PlaceOrder")
                        .then("OrderPlaced"),
                )
                .policy(Policy::new("Dangling"))
                .read_model(
                    ReadModel::new("Orders")
                        .fed_by("OrderPlaced")
                        .fed_by("Unknown"),
                )
                .read_model("Empty")
                .hotspot(Hotspot::new("Refunds?").about("NoSuchThing")),
        )
        .context(BoundedContext::new("Sales"))
        .context(BoundedContext::new(" "))
}

/// The findings of [`broken_model`], in document order.
fn broken_model_findings() -> Vec<(Severity, Code, String)> {
    use Code::*;
    use Severity::*;
    vec![
        (Error, DuplicateName, "people[1].name"),
        (Error, UnknownReference, "external_systems[0].emits[1]"),
        (
            Error,
            UnknownReference,
            "contexts[0].aggregates[0].commands[1].issued_by[0]",
        ),
        (
            Warning,
            CommandEmitsNothing,
            "contexts[0].aggregates[0].commands[1]",
        ),
        (
            Error,
            UnknownReference,
            "contexts[0].aggregates[0].commands[2].emits[0]",
        ),
        (
            Warning,
            EventNeverEmitted,
            "contexts[0].aggregates[0].events[1]",
        ),
        // The command `Order` clashes with the aggregate `Order` in the same context.
        (
            Error,
            DuplicateName,
            "contexts[0].aggregates[1].commands[0].name",
        ),
        (
            Error,
            UnknownReference,
            "contexts[0].aggregates[1].commands[0].emits[0]",
        ),
        (Error, UnknownReference, "contexts[0].policies[1].when"),
        (Error, UnknownReference, "contexts[0].policies[1].then"),
        (Error, UnknownReference, "contexts[0].policies[2].when"),
        (Error, UnknownReference, "contexts[0].policies[2].then"),
        (Warning, PolicyWithoutTrigger, "contexts[0].policies[3]"),
        (Warning, PolicyWithoutCommand, "contexts[0].policies[3]"),
        (
            Error,
            UnknownReference,
            "contexts[0].read_models[0].fed_by[1]",
        ),
        (Warning, ReadModelNotFed, "contexts[0].read_models[1]"),
        (Error, UnknownReference, "contexts[0].hotspots[0].about"),
        (Error, DuplicateName, "contexts[1].name"),
        (Error, EmptyName, "contexts[2].name"),
    ]
    .into_iter()
    .map(|(s, c, p)| (s, c, p.to_owned()))
    .collect()
}

#[test]
fn a_broken_model_reports_everything_in_document_order() {
    let model = broken_model();
    let found = summary(&model);
    let expected = broken_model_findings();
    assert_eq!(found, expected);
    // Deterministic: the same model gives the same findings, messages included.
    assert_eq!(model.validate(), model.validate());
}

#[test]
fn messages_name_the_problem() {
    let model = Model::new("Shop").context(
        BoundedContext::new("Sales")
            .aggregate(
                Aggregate::new("Order")
                    .command(Command::new("PlaceOrder").emits("OrderPlaced"))
                    .event("OrderPlaced"),
            )
            .policy(Policy::new("P").when("PlaceOrder").then("PlaceOrder")),
    );
    let findings = model.validate();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.location.names, ["Sales", "P"]);
    assert_eq!(
        f.to_string(),
        "error[unknown-reference] at contexts[0].policies[0].when (Sales > P): policy \"P\" names \
         \"PlaceOrder\" as an event, but it is a command at contexts[0].aggregates[0].commands[0]"
    );
}

#[test]
fn references_resolve_across_contexts_unless_ambiguous() {
    let events = |ctx: &str| {
        BoundedContext::new(ctx).aggregate(
            Aggregate::new(format!("{ctx}Agg"))
                .command(
                    Command::new(format!("{ctx}Do"))
                        .issued_by("User")
                        .emits("Happened"),
                )
                .event("Happened"),
        )
    };
    let listener =
        BoundedContext::new("Reports").read_model(ReadModel::new("Everything").fed_by("Happened"));
    // One other context defines `Happened`: it resolves there.
    let one = Model::new("D")
        .person("User")
        .context(events("A"))
        .context(listener.clone());
    assert_eq!(one.validate(), []);
    // Two other contexts define it: ambiguous.
    let two = Model::new("D")
        .person("User")
        .context(events("A"))
        .context(events("B"))
        .context(listener);
    let found = summary(&two);
    assert_eq!(
        found,
        [(
            Severity::Error,
            Code::AmbiguousReference,
            "contexts[2].read_models[0].fed_by[0]".to_owned()
        )]
    );
    // Inside a context, its own definition wins.
    let local = Model::new("D")
        .person("User")
        .context(events("A").read_model(ReadModel::new("Mine").fed_by("Happened")))
        .context(events("B"));
    assert_eq!(local.validate(), []);
}

#[test]
fn an_untriggered_policy_cycle_is_reported_once() {
    let ping_pong = |issuer: Option<&str>| {
        let mut ping = Command::new("Ping").emits("Pinged");
        if let Some(who) = issuer {
            ping = ping.issued_by(who);
        }
        Model::new("Loop").person("Operator").context(
            BoundedContext::new("Ctx")
                .aggregate(
                    Aggregate::new("Ball")
                        .command(ping)
                        .command(Command::new("Pong").emits("Ponged"))
                        .event("Pinged")
                        .event("Ponged"),
                )
                .policy(Policy::new("PongOnPing").when("Pinged").then("Pong"))
                .policy(Policy::new("PingOnPong").when("Ponged").then("Ping")),
        )
    };
    let findings = ping_pong(None).validate();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].code, Code::UntriggeredPolicyCycle);
    assert_eq!(findings[0].severity, Severity::Warning);
    assert_eq!(findings[0].location.path, "contexts[0].policies[0]");
    assert!(
        findings[0]
            .message
            .contains("\"PongOnPing\", \"PingOnPong\""),
        "{}",
        findings[0].message
    );
    // A person who issues a command of the cycle starts it: no warning.
    assert_eq!(ping_pong(Some("Operator")).validate(), []);
}

#[test]
fn a_cycle_entered_from_outside_is_fine() {
    let model = Model::new("Loop").person("Operator").context(
        BoundedContext::new("Ctx")
            .aggregate(
                Aggregate::new("Ball")
                    .command(Command::new("Serve").issued_by("Operator").emits("Pinged"))
                    .command(Command::new("Ping").emits("Pinged"))
                    .command(Command::new("Pong").emits("Ponged"))
                    .event("Pinged")
                    .event("Ponged"),
            )
            .policy(Policy::new("PongOnPing").when("Pinged").then("Pong"))
            .policy(Policy::new("PingOnPong").when("Ponged").then("Ping")),
    );
    assert_eq!(model.validate(), []);
}

#[test]
fn a_hotspot_acknowledges_a_policy_without_event() {
    let model = |with_hotspot: bool| {
        let mut ctx = BoundedContext::new("Ctx")
            .aggregate(
                Aggregate::new("T")
                    .command(Command::new("Fail").emits("Failed"))
                    .event("Failed"),
            )
            .policy(Policy::new("FailOnReject").then("Fail"));
        if with_hotspot {
            ctx = ctx.hotspot(Hotspot::new("Rejections are replies").about("FailOnReject"));
        }
        Model::new("D").context(ctx)
    };
    assert_eq!(
        summary(&model(false)),
        [(
            Severity::Warning,
            Code::PolicyWithoutTrigger,
            "contexts[0].policies[0]".to_owned()
        )]
    );
    assert_eq!(model(true).validate(), []);
}
