//! A generic aggregate takes its names from its `Aggregate` implementation (the derive adds
//! the bounds), and `#[aether(crate = "..")]` names the traits through another path.

use aether::{Aggregate, CommandNames, DescribeAggregate, EventNames};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

mod reexported {
    pub use aether::{CommandNames, EventKind, EventNames};
}

#[derive(Serialize, Deserialize, EventNames)]
#[aether(crate = "crate::reexported")]
enum Event<T> {
    Set(T),
    #[serde(rename = "cleared")]
    Cleared,
}

#[derive(Serialize, Deserialize, CommandNames)]
#[aether(crate = "crate::reexported")]
enum Command<T> {
    Set(T),
    Clear,
}

#[derive(Default, DescribeAggregate)]
#[aether(type_name = "Register")]
struct Register<T>(std::marker::PhantomData<T>);

impl<T> Aggregate for Register<T>
where
    T: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static,
{
    type Command = Command<T>;
    type Event = Event<T>;
    type State = T;
    type Reply = ();
    type Error = String;

    fn decide(&self, _: &T, command: &Command<T>) -> Result<(Vec<Event<T>>, ()), String> {
        Ok(match command {
            Command::Set(value) => (vec![Event::Set(value.clone())], ()),
            Command::Clear => (vec![Event::Cleared], ()),
        })
    }

    fn apply(state: &mut T, event: &Event<T>) {
        match event {
            Event::Set(value) => *state = value.clone(),
            Event::Cleared => *state = T::default(),
        }
    }
}

fn main() {
    assert_eq!(Register::<String>::describe().commands, ["Set", "Clear"]);
    assert_eq!(Register::<u8>::event_names(), ["Set", "cleared"]);
    assert_eq!(Event::<u8>::Cleared.kind(), EventKind::Cleared);
    assert_eq!(Command::<u8>::Clear.command_name(), "Clear");
}
