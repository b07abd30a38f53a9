use aether::{CommandNames, DescribeAggregate, EventNames};
use serde::Serialize;

#[derive(Serialize, EventNames)]
enum Event {
    Happened,
}

#[derive(Serialize, CommandNames)]
enum Command {
    Do,
}

#[derive(DescribeAggregate)]
#[aether(type_name = "One", event = Event)]
struct One;

#[derive(DescribeAggregate)]
#[aether(type_name = "Other", command = Command)]
struct Other;

fn main() {}
