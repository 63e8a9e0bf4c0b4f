//! One module per op of the spec, each with `Params`, `forward` and `backward` in the kernel
//! convention (see the crate docs).

pub mod ndcg_loss;
pub mod sigmoid_rank;
pub mod soft_rank;
pub mod soft_sort;
pub mod spearman_loss;
