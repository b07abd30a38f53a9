use aether::{DescribeAggregate, EventNames};
use serde::Serialize;

#[derive(Serialize, EventNames)]
enum AccountEvent {
    #[serde(
        rename = "an-event-name-of-257-bytes-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    )]
    Opened,
    #[serde(rename = "closed\n")]
    Closed,
}

#[derive(DescribeAggregate)]
#[aether(type_name = "Acc\tount", command = (), event = AccountEvent)]
struct Account;

fn main() {}
