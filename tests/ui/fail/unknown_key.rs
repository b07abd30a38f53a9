use aether::DescribeAggregate;

#[derive(DescribeAggregate)]
#[aether(typename = "Account")]
struct Account;

fn main() {}
