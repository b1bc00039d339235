//! The hosted checkout: cards, the payment processor and the pay flow.

pub mod card;
pub mod guard;
pub mod pay;
pub mod processor;
pub mod redirect;

#[cfg(test)]
mod tests;
