use aether::EventNames;
use serde::Serialize;

#[derive(Serialize, EventNames)]
enum AccountEvent {
    Opened,
    #[serde(rename = "")]
    Closed,
}

fn main() {}
