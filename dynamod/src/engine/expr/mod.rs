//! DynamoDB's expression language: lexer, parser (with placeholder and reserved-word checks),
//! condition evaluation, projections and updates.

pub mod ast;
pub mod checks;
pub mod eval;
pub mod lexer;
pub mod parser;
pub mod reserved;
pub mod update;

#[cfg(test)]
mod tests;

pub use ast::{Condition, Path, Update};
pub use parser::{Placeholders, parse_condition, parse_projection, parse_update};
