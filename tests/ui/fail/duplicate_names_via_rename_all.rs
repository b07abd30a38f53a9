use aether::CommandNames;
use serde::Serialize;

#[derive(Serialize, CommandNames)]
#[serde(rename_all = "lowercase")]
enum Command {
    SetUp,
    Setup,
}

fn main() {}
