//! `soft_rank_grouped`: soft ranks within groups of each row (1 = first of its group).
//!
//! Each item is ranked among the items of its row that share its group id, exactly as
//! [`soft_rank`](super::soft_rank) ranks a row holding only them: several lists (the documents
//! of several queries, say) packed into one row, without padding each to the longest.
//!
//! The forward sorts each row's positions by group id (ties by position; a radix sort on the id),
//! runs soft_rank's row kernel on each group (on the row as it is when it holds one group) and
//! writes one `permutation` residual per row: each group's soft_rank residual, groups in
//! increasing id order, with the row's positions in place of the group's.
//! A group starts a block of its own, so the residual is soft_rank's for a row whose blocks never
//! cross a group, and the VJP, JVP and HVP are soft_rank's kernels on it: O(n) per row, no sort,
//! and they never read `groups`.

use super::soft_rank::{self, row_work, Ranker};
use crate::check::Check;
use crate::masked::{Layout, Masked};
use crate::pav::column;
use crate::scratch::{take, with_scratch};
use crate::sort::radix_sort_top32;
use crate::threads::{run_rows, In, Out};
use crate::{Error, Real, Shape};

/// soft_rank's params (regularization strength, regularization, direction), with its defaults.
pub use super::soft_rank::Params;

const OP: &str = "soft_rank_grouped";

/// Soft ranks of each row of `values` (`[batch, n]`, row-major) within the groups of `groups`
/// (`[batch, n]`, any `i32` ids; items of one row with the same id form a group) into `ranks`,
/// and the packed residual into `permutation` (both `[batch, n]`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows). An
/// absent item belongs to no group.
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    groups: &[i32],
    mask: Option<&[bool]>,
    ranks: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, values, groups, ranks, permutation);
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("groups", groups, Layout::Items)
        .real_out("ranks", ranks, Layout::Items)
        .int_out("permutation", permutation, Layout::Sorted)
        .run(|b, _| {
            let (shape, [values], [groups], [ranks], [permutation]) = b.split();
            forward_dense(shape, params, values, groups, ranks, permutation)
        })
}

/// [`forward`] without a mask.
fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    groups: &[i32],
    ranks: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("groups", groups.len())?;
    check.matrix("ranks", ranks.len())?;
    check.matrix("permutation", permutation.len())?;
    // soft_rank's checks: its bound for a row of n items holds for every group of at most n.
    let eps = soft_rank::forward_checks(check, params, values)?;

    if shape.batch == 0 || shape.n == 0 {
        return Ok(());
    }
    let n = shape.n;
    let ranker = Ranker::new(eps, params.regularization, params.direction, n);
    let bufs = (
        In::new(values, n),
        In::new(groups, n),
        Out::new(ranks, n),
        Out::new(permutation, n),
    );
    // The group sort comes on top of soft_rank's work.
    run_rows(
        shape.batch,
        2 * row_work(n),
        bufs,
        |rows, (x, g, mut r, mut p)| {
            with_scratch(|sc| {
                let mut keys = (Vec::new(), Vec::new());
                for i in 0..rows {
                    grouped_row(
                        &ranker,
                        sc,
                        &mut keys,
                        (x.row(i), g.row(i)),
                        r.row(i),
                        p.row(i),
                    );
                }
            })
        },
    );
    Ok(())
}

/// One row of the forward: soft_rank's row kernel on each group, gathered in position order.
/// `keys` is scratch for the sort by id: `(id, position)` packed in a `u64`, radix-sorted on the id.
fn grouped_row<T: Real>(
    ranker: &Ranker,
    sc: &mut crate::scratch::Scratch,
    (keys, tmp): &mut (Vec<u64>, Vec<u64>),
    (x, groups): (&[T], &[i32]),
    ranks: &mut [T],
    perm: &mut [i32],
) {
    let n = x.len();
    if groups.iter().all(|&g| g == groups[0]) {
        // One group: soft_rank of the row as it is.
        ranker.forward_row(&mut sc.row, x, ranks, perm);
        return;
    }
    keys.clear();
    // The id with its sign bit flipped sorts as an unsigned number; the sort is stable, so
    // positions stay in order within a group.
    keys.extend(
        groups
            .iter()
            .enumerate()
            .map(|(p, &g)| (u64::from(g as u32 ^ 0x8000_0000) << 32) | p as u64),
    );
    radix_sort_top32(keys, tmp);
    let id_of = |k: u64| (k >> 32) as u32;
    let mut a = 0;
    while a < n {
        let id = id_of(keys[a]);
        let mut b = a + 1;
        while b < n && id_of(keys[b]) == id {
            b += 1;
        }
        let members = &keys[a..b];
        let m = b - a;
        if m == 1 {
            // A singleton: rank 1, a block of its own (what soft_rank's kernel writes, without
            // its per-row setup).
            let at = members[0] as u32;
            ranks[at as usize] = T::from_f64(1.0);
            perm[a] = !(at as i32);
            a = b;
            continue;
        }
        let xs = take(&mut sc.loss1, m);
        for (v, &k) in xs.iter_mut().zip(members) {
            *v = x[k as u32 as usize].to_f64();
        }
        let rs = take(&mut sc.loss2, m);
        let ps = &mut perm[a..b];
        ranker.forward_row(&mut sc.row, &*xs, rs, ps);
        for (&r, &k) in rs.iter().zip(members) {
            ranks[k as u32 as usize] = T::from_f64(r);
        }
        // The group's entries name the row's positions; a block start keeps its mark.
        for e in ps.iter_mut() {
            let at = members[column(*e)] as u32 as i32;
            *e = if *e < 0 { !at } else { at };
        }
        a = b;
    }
}

/// Vector-Jacobian product of `soft_rank_grouped`: `grad_values = cotangent_ranksᵀ ·
/// ∂ranks/∂values` and per row `grad_regularization_strength = ⟨cotangent_ranks, ∂ranks/∂ε⟩`;
/// soft_rank's backward on the grouped residual (O(n) per row, no sort).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    cotangent_ranks: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    soft_rank::backward_for(
        OP,
        shape,
        params,
        values,
        mask,
        ranks,
        permutation,
        cotangent_ranks,
        grad_values,
        grad_regularization_strength,
    )
}

/// Jacobian-vector product of `soft_rank_grouped`: `tangent_ranks = ∂ranks/∂values ·
/// tangent_values + ∂ranks/∂ε · tangent_regularization_strength`; soft_rank's JVP on the grouped
/// residual.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn jvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_ranks: &mut [T],
) -> Result<(), Error> {
    soft_rank::jvp_for(
        OP,
        shape,
        params,
        values,
        mask,
        ranks,
        permutation,
        tangent_values,
        tangent_regularization_strength,
        tangent_ranks,
    )
}

/// Hessian-vector product of `soft_rank_grouped` (the derivative of [`backward`] along the
/// tangents at a fixed cotangent); soft_rank's HVP on the grouped residual.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    cotangent_ranks: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    soft_rank::hvp_for(
        OP,
        shape,
        params,
        values,
        mask,
        ranks,
        permutation,
        cotangent_ranks,
        tangent_values,
        tangent_regularization_strength,
        hvp_values,
        hvp_regularization_strength,
    )
}
