use aether::EventNames;

#[derive(EventNames)]
union Raw {
    int: u64,
    float: f64,
}

fn main() {}
