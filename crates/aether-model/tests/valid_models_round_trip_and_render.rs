//! Property tests: valid models survive a save/load round trip unchanged (JSON and TOML),
//! and any names, however hostile, render to well-formed Mermaid with one node line per
//! element.

use aether_model::{
    Aggregate, BoundedContext, Command, DomainEvent, ExternalSystem, Hotspot, Model, Person,
    Policy, ReadModel,
};
use proptest::prelude::*;

/// Names: mostly arbitrary Unicode (control characters included), often with the
/// characters that matter to Mermaid, TOML and JSON.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        "[\"'`#&<>|\\[\\](){}:;%\\\\ a-zA-Zé名🏦-]{0,12}",
        ".{0,8}",
        Just("end".to_owned()),
        Just("#quot;".to_owned()),
    ]
}

/// The shape of a model: counts and raw names; references are picked from `picks`.
#[derive(Debug, Clone)]
struct Shape {
    domain: String,
    description: String,
    people: Vec<String>,
    externals: Vec<String>,
    contexts: Vec<ContextShape>,
    hotspots: Vec<String>,
    picks: Vec<usize>,
}

#[derive(Debug, Clone)]
struct ContextShape {
    name: String,
    aggregates: Vec<(String, Vec<String>, Vec<String>)>,
    events: Vec<String>,
    policies: Vec<String>,
    read_models: Vec<String>,
    hotspots: Vec<String>,
}

fn context_shape() -> impl Strategy<Value = ContextShape> {
    (
        name(),
        prop::collection::vec(
            (
                name(),
                prop::collection::vec(name(), 0..4),
                prop::collection::vec(name(), 0..4),
            ),
            0..3,
        ),
        prop::collection::vec(name(), 0..2),
        prop::collection::vec(name(), 0..3),
        prop::collection::vec(name(), 0..3),
        prop::collection::vec(name(), 0..2),
    )
        .prop_map(
            |(name, aggregates, events, policies, read_models, hotspots)| ContextShape {
                name,
                aggregates,
                events,
                policies,
                read_models,
                hotspots,
            },
        )
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        name(),
        "\\PC{0,30}",
        prop::collection::vec(name(), 0..3),
        prop::collection::vec(name(), 0..3),
        prop::collection::vec(context_shape(), 0..3),
        prop::collection::vec(name(), 0..2),
        prop::collection::vec(any::<usize>(), 64),
    )
        .prop_map(
            |(domain, description, people, externals, contexts, hotspots, picks)| Shape {
                domain,
                description,
                people,
                externals,
                contexts,
                hotspots,
                picks,
            },
        )
}

/// Deterministic choices from the generated numbers.
struct Picker {
    picks: Vec<usize>,
    next: usize,
}

impl Picker {
    fn number(&mut self) -> usize {
        let n = self.picks[self.next % self.picks.len()].wrapping_add(self.next / self.picks.len());
        self.next += 1;
        n
    }

    /// Up to `max` distinct-position items of `from`.
    fn some(&mut self, from: &[String], max: usize) -> Vec<String> {
        if from.is_empty() {
            return Vec::new();
        }
        let count = self.number() % (max + 1);
        (0..count)
            .map(|_| from[self.number() % from.len()].clone())
            .collect()
    }

    fn maybe(&mut self, from: &[String]) -> Option<String> {
        if from.is_empty() || self.number() % 4 == 0 {
            None
        } else {
            Some(from[self.number() % from.len()].clone())
        }
    }
}

/// The names of one context of a valid model, made unique.
struct ContextNames {
    name: String,
    aggregates: Vec<(String, Vec<String>, Vec<String>)>,
    events: Vec<String>,
    policies: Vec<String>,
    read_models: Vec<String>,
    hotspots: Vec<String>,
}

/// What references of a valid model pick from.
struct Targets {
    issuers: Vec<String>,
    all_events: Vec<String>,
    all_commands: Vec<String>,
    context_events: Vec<String>,
    everything: Vec<String>,
}

/// Makes every name of a context unique, in document order.
fn context_names(c: &ContextShape, unique: &mut impl FnMut(&str) -> String) -> ContextNames {
    let name = unique(&c.name);
    let aggregates = c
        .aggregates
        .iter()
        .map(|(a, cmds, evs)| (unique(a), all_unique(unique, cmds), all_unique(unique, evs)))
        .collect();
    ContextNames {
        name,
        aggregates,
        events: all_unique(unique, &c.events),
        policies: all_unique(unique, &c.policies),
        read_models: all_unique(unique, &c.read_models),
        hotspots: all_unique(unique, &c.hotspots),
    }
}

fn all_unique(unique: &mut impl FnMut(&str) -> String, names: &[String]) -> Vec<String> {
    names.iter().map(|n| unique(n)).collect()
}

/// Collects the names references may pick.
fn targets(issuers: Vec<String>, contexts: &[ContextNames]) -> Targets {
    let all_events: Vec<String> = contexts
        .iter()
        .flat_map(|c| {
            c.aggregates
                .iter()
                .flat_map(|a| a.2.clone())
                .chain(c.events.clone())
        })
        .collect();
    let all_commands: Vec<String> = contexts
        .iter()
        .flat_map(|c| c.aggregates.iter().flat_map(|a| a.1.clone()))
        .collect();
    let context_events: Vec<String> = contexts.iter().flat_map(|c| c.events.clone()).collect();
    let mut everything: Vec<String> = issuers.clone();
    for c in contexts {
        everything.push(c.name.clone());
        for a in &c.aggregates {
            everything.push(a.0.clone());
            everything.extend(a.1.iter().chain(&a.2).cloned());
        }
        everything.extend(
            c.events
                .iter()
                .chain(&c.policies)
                .chain(&c.read_models)
                .cloned(),
        );
    }
    Targets {
        issuers,
        all_events,
        all_commands,
        context_events,
        everything,
    }
}

/// A valid model: every name unique (a counter suffix), every reference resolving.
fn valid_model(shape: Shape) -> Model {
    let mut counter = 0;
    let mut unique = |base: &str| {
        counter += 1;
        format!("{base} #{counter}")
    };
    let mut picker = Picker {
        picks: shape.picks,
        next: 0,
    };
    let people: Vec<String> = shape.people.iter().map(|n| unique(n)).collect();
    let externals: Vec<String> = shape.externals.iter().map(|n| unique(n)).collect();
    let issuers: Vec<String> = people.iter().chain(&externals).cloned().collect();

    // Names first, so that references can point anywhere.
    let contexts: Vec<ContextNames> = shape
        .contexts
        .iter()
        .map(|c| context_names(c, &mut unique))
        .collect();
    let model_hotspots: Vec<String> = shape.hotspots.iter().map(|n| unique(n)).collect();
    let targets = targets(issuers, &contexts);

    let mut model = Model::new(unique(&shape.domain)).description(shape.description);
    for p in people {
        model = model.person(Person::new(p).description("someone"));
    }
    for x in externals {
        let mut system = ExternalSystem::new(x);
        for e in picker.some(&targets.context_events, 2) {
            system = system.emits(e);
        }
        model = model.external_system(system);
    }
    for c in contexts {
        model = model.context(valid_context(c, &targets, &mut picker));
    }
    for h in model_hotspots {
        let mut hotspot = Hotspot::new(h);
        hotspot.about = picker.maybe(&targets.everything);
        model = model.hotspot(hotspot);
    }
    model
}

/// A context of a valid model, its references picked from `targets`.
fn valid_context(c: ContextNames, targets: &Targets, picker: &mut Picker) -> BoundedContext {
    let mut ctx = BoundedContext::new(c.name).description("a context");
    for (a, cmds, evs) in c.aggregates {
        ctx = ctx.aggregate(valid_aggregate(a, cmds, evs, &targets.issuers, picker));
    }
    for e in c.events {
        ctx = ctx.event(e);
    }
    for p in c.policies {
        let mut policy = Policy::new(p);
        policy.when = picker.maybe(&targets.all_events);
        policy.then = picker.maybe(&targets.all_commands);
        ctx = ctx.policy(policy);
    }
    for r in c.read_models {
        let mut read_model = ReadModel::new(r);
        for e in picker.some(&targets.all_events, 3) {
            read_model = read_model.fed_by(e);
        }
        ctx = ctx.read_model(read_model);
    }
    for h in c.hotspots {
        let mut hotspot = Hotspot::new(h).description("why?");
        hotspot.about = picker.maybe(&targets.everything);
        ctx = ctx.hotspot(hotspot);
    }
    ctx
}

/// An aggregate of a valid model: commands issued by `issuers` and emitting its own events.
fn valid_aggregate(
    name: String,
    cmds: Vec<String>,
    evs: Vec<String>,
    issuers: &[String],
    picker: &mut Picker,
) -> Aggregate {
    let mut agg = Aggregate::new(name);
    for cmd in cmds {
        let mut command = Command::new(cmd);
        for who in picker.some(issuers, 2) {
            command = command.issued_by(who);
        }
        for e in picker.some(&evs, 2) {
            command = command.emits(e);
        }
        agg = agg.command(command);
    }
    for e in evs {
        agg = agg.event(DomainEvent::new(e).description("it happened"));
    }
    agg
}

/// Any model, valid or not: raw names, possibly empty or duplicated, references made of
/// names too.
fn any_model() -> impl Strategy<Value = Model> {
    (shape(), prop::collection::vec(name(), 8)).prop_map(|(shape, refs)| {
        let mut model = Model::new(shape.domain);
        for p in shape.people {
            model = model.person(p);
        }
        for x in shape.externals {
            model = model.external_system(ExternalSystem::new(x).emits(refs[0].clone()));
        }
        for c in shape.contexts {
            let mut ctx = BoundedContext::new(c.name);
            for (a, cmds, evs) in c.aggregates {
                let mut agg = Aggregate::new(a);
                for cmd in cmds {
                    agg = agg.command(
                        Command::new(cmd)
                            .issued_by(refs[1].clone())
                            .emits(refs[2].clone()),
                    );
                }
                for e in evs {
                    agg = agg.event(e);
                }
                ctx = ctx.aggregate(agg);
            }
            for e in c.events {
                ctx = ctx.event(e);
            }
            for p in c.policies {
                ctx = ctx.policy(Policy::new(p).when(refs[3].clone()).then(refs[4].clone()));
            }
            for r in c.read_models {
                ctx = ctx.read_model(ReadModel::new(r).fed_by(refs[5].clone()));
            }
            for h in c.hotspots {
                ctx = ctx.hotspot(Hotspot::new(h).about(refs[6].clone()));
            }
            model = model.context(ctx);
        }
        for h in shape.hotspots {
            model = model.hotspot(Hotspot::new(h).about(refs[7].clone()));
        }
        model
    })
}

/// Decodes the entity codes the renderer writes.
fn unescape(label: &str) -> String {
    let mut out = String::new();
    let mut rest = label;
    while let Some(i) = rest.find('#') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').expect("an entity code ends with ';'");
        let code = &after[..end];
        out.push(match code {
            "quot" => '"',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            n => char::from_u32(n.parse().expect("a named or numeric entity")).unwrap(),
        });
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The label a name renders as.
fn expected_label(name: &str) -> String {
    let label: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if label.is_empty() {
        " ".to_owned()
    } else {
        label
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Splits a node line `id<open>"label"<close>:::class` into (id, label, class).
fn parse_node(line: &str) -> Option<(&str, &str, &str)> {
    const SHAPES: &[(&str, &str, &str)] = &[
        ("([\"", "\"])", "person"),
        ("[[\"", "\"]]", "external"),
        ("[\"", "\"]", "command"),
        ("[\"", "\"]", "event"),
        ("{{\"", "\"}}", "policy"),
        ("[(\"", "\")]", "readModel"),
        (">\"", "\"]", "hotspot"),
    ];
    let (body, class) = line.rsplit_once(":::")?;
    for (open, close, shape_class) in SHAPES {
        if class != *shape_class {
            continue;
        }
        let id_end = body.find(open)?;
        let id = &body[..id_end];
        let label = body[id_end + open.len()..].strip_suffix(close)?;
        if is_id(id) && !label.contains('"') {
            return Some((id, label, class));
        }
    }
    None
}

fn node_names(model: &Model) -> Vec<String> {
    let mut names: Vec<String> = model.people.iter().map(|p| p.name.clone()).collect();
    names.extend(model.external_systems.iter().map(|x| x.name.clone()));
    for c in &model.contexts {
        for a in &c.aggregates {
            names.extend(a.commands.iter().map(|x| x.name.clone()));
            names.extend(a.events.iter().map(|x| x.name.clone()));
        }
        names.extend(c.events.iter().map(|x| x.name.clone()));
        names.extend(c.policies.iter().map(|x| x.name.clone()));
        names.extend(c.read_models.iter().map(|x| x.name.clone()));
        names.extend(c.hotspots.iter().map(|x| x.name.clone()));
    }
    names.extend(model.hotspots.iter().map(|x| x.name.clone()));
    names
}

fn group_names(model: &Model) -> Vec<String> {
    let mut names = Vec::new();
    for c in &model.contexts {
        names.push(c.name.clone());
        names.extend(c.aggregates.iter().map(|a| a.name.clone()));
    }
    names
}

/// Checks the structure of a rendered diagram line by line.
fn check_mermaid(model: &Model) -> Result<(), TestCaseError> {
    let diagram = model.to_mermaid();
    let mut lines = diagram.lines();
    prop_assert_eq!(lines.next(), Some("flowchart LR"));
    let mut nodes = Vec::new();
    let mut groups = Vec::new();
    let mut ends = 0;
    let mut ids = std::collections::HashSet::new();
    for line in lines {
        let line = line.trim_start();
        if line.starts_with("classDef ") || line.starts_with("style ") {
            continue;
        }
        if line == "end" {
            ends += 1;
        } else if let Some(rest) = line.strip_prefix("subgraph ") {
            let (id, label) = rest.split_once("[\"").expect("subgraph id[\"label\"]");
            let label = label.strip_suffix("\"]").expect("subgraph label closes");
            prop_assert!(
                is_id(id) && !label.contains('"'),
                "bad subgraph line {line:?}"
            );
            prop_assert!(ids.insert(id.to_owned()), "id {id} used twice");
            groups.push(unescape(label));
        } else if let Some((from, to)) = line
            .split_once(" --> ")
            .or_else(|| line.split_once(" -.- "))
        {
            prop_assert!(is_id(from) && is_id(to), "bad edge line {line:?}");
        } else {
            let Some((id, label, _)) = parse_node(line) else {
                return Err(TestCaseError::fail(format!("unparsable line {line:?}")));
            };
            prop_assert!(ids.insert(id.to_owned()), "id {id} used twice");
            nodes.push(unescape(label));
        }
    }
    let expected: Vec<String> = node_names(model)
        .iter()
        .map(|n| expected_label(n))
        .collect();
    prop_assert_eq!(nodes, expected, "one node line per element, labels intact");
    let expected: Vec<String> = group_names(model)
        .iter()
        .map(|n| expected_label(n))
        .collect();
    prop_assert_eq!(ends, expected.len());
    prop_assert_eq!(groups, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn valid_models_survive_json_and_toml_round_trips(shape in shape()) {
        let model = valid_model(shape);
        let findings = model.validate();
        prop_assert!(!findings.iter().any(|f| f.is_error()), "generated model invalid: {findings:#?}");

        let json = model.to_json_string().unwrap();
        prop_assert_eq!(&Model::from_json_str(&json).unwrap(), &model);
        let toml = model.to_toml_string().unwrap();
        prop_assert_eq!(&Model::from_toml_str(&toml).unwrap(), &model, "TOML:\n{}", toml);
    }

    #[test]
    fn valid_models_render_well_formed_mermaid(shape in shape()) {
        check_mermaid(&valid_model(shape))?;
    }

    #[test]
    fn any_model_renders_well_formed_mermaid_and_validates_without_panic(model in any_model()) {
        check_mermaid(&model)?;
        let findings = model.validate();
        // Deterministic order.
        prop_assert_eq!(&findings, &model.validate());
        let _ = model.summary();
        let _ = model.check_against(&[]);
    }
}
