//! What a call costs: the one price table ([`prices`]), exact integer [`money`], and AWS Price List
//! offer files read into price-table entries ([`price_list`]).

pub mod money;
pub mod price_list;
pub mod prices;
