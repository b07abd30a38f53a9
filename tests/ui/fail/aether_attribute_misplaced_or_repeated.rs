use aether::EventNames;
use serde::Serialize;

#[derive(Serialize, EventNames)]
#[aether(kind = "Kinds", kind = "Types")]
enum Event {
    #[aether(kind = "Opening")]
    Opened,
}

#[derive(Serialize, EventNames)]
#[aether(kind = "StructKind")]
struct Closed;

fn main() {}
