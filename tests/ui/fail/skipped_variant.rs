use aether::EventNames;
use serde::Serialize;

#[derive(Serialize, EventNames)]
enum AccountEvent {
    Opened,
    #[serde(skip)]
    Audited,
    #[serde(skip_serializing)]
    Legacy,
}

fn main() {}
