//! ebsd's wire layers: the EC2 Query API and NBD.

pub mod ec2;
pub mod nbd;
