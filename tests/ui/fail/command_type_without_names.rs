use aether::{DescribeAggregate, EventNames};
use serde::Serialize;

#[derive(Serialize, EventNames)]
enum Event {
    Happened,
}

#[derive(Serialize)]
enum Command {
    Do,
}

#[derive(DescribeAggregate)]
#[aether(type_name = "Account", command = Command, event = Event)]
struct Account;

fn main() {}
