use aether::DescribeAggregate;

#[derive(DescribeAggregate)]
struct Account;

fn main() {}
