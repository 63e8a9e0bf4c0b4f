//! The spec's enums, with the codes and names every binding uses.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind};

macro_rules! spec_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $spec_name:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, $text:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $code, )+
        }

        impl $name {
            /// Every value, in the spec's order (the order of the codes).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value with this code (the spec's value order, starting at 0).
            pub fn from_code(code: i32) -> Result<Self, Error> {
                match code {
                    $( $code => Ok($name::$variant), )+
                    _ => Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            concat!($spec_name, " must be one of ", $(stringify!($code), " (", $text, "), ",)+ "got {}"),
                            code
                        ),
                    )),
                }
            }

            /// The value with this name, as written in the spec (lowercase).
            pub fn parse(name: &str) -> Result<Self, Error> {
                match name {
                    $( $text => Ok($name::$variant), )+
                    _ => Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            concat!($spec_name, " must be one of ", $("\"", $text, "\", ",)+ "got {:?}"),
                            name
                        ),
                    )),
                }
            }

            /// The code of this value (its position in the spec).
            pub fn code(self) -> i32 {
                self as i32
            }

            /// The spec's name of this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                $name::parse(s)
            }
        }
    };
}

spec_enum! {
    /// Regularization of the permutahedron projection (Blondel et al. 2020).
    Regularization, "regularization" {
        /// Quadratic regularization; the projection is an isotonic regression in the L2 sense.
        #[default]
        L2 = 0, "l2";
        /// Entropic (KL) regularization; ranks are exponentiated log-ranks, always positive.
        Kl = 1, "kl";
    }
}

spec_enum! {
    /// Which way to rank or sort.
    Direction, "direction" {
        /// The smallest value gets rank 1 (soft_sort returns increasing values).
        #[default]
        Ascending = 0, "ascending";
        /// The largest value gets rank 1 (soft_sort returns decreasing values).
        Descending = 1, "descending";
    }
}

spec_enum! {
    /// Regularization of `soft_topk` (Sander et al. 2023): the penalty Ω of the mask.
    TopkRegularization, "regularization" {
        /// Ω = ½‖y‖²: the mask is a clipped, shifted copy of `values/ε`; piecewise linear.
        #[default]
        L2 = 0, "l2";
        /// Ω = ¾ Σ y^{4/3}: the mask is continuously differentiable in `values`.
        P43 = 1, "p43";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for &r in Regularization::ALL {
            assert_eq!(Regularization::from_code(r.code()), Ok(r));
            assert_eq!(Regularization::parse(r.as_str()), Ok(r));
        }
        for &d in Direction::ALL {
            assert_eq!(Direction::from_code(d.code()), Ok(d));
            assert_eq!(d.as_str().parse::<Direction>(), Ok(d));
        }
        for &r in TopkRegularization::ALL {
            assert_eq!(TopkRegularization::from_code(r.code()), Ok(r));
            assert_eq!(TopkRegularization::parse(r.as_str()), Ok(r));
        }
        assert_eq!(TopkRegularization::default(), TopkRegularization::L2);
        assert_eq!(Regularization::default(), Regularization::L2);
        assert_eq!(Direction::default(), Direction::Ascending);
    }

    #[test]
    fn messages() {
        let e = Regularization::parse("up").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(
            e.with_op("soft_rank").message,
            r#"soft_rank: regularization must be one of "l2", "kl", got "up""#
        );
        assert_eq!(
            Direction::from_code(2).unwrap_err().message,
            "direction must be one of 0 (ascending), 1 (descending), got 2"
        );
        assert_eq!(
            TopkRegularization::parse("kl").unwrap_err().message,
            r#"regularization must be one of "l2", "p43", got "kl""#
        );
        assert_eq!(
            TopkRegularization::from_code(2).unwrap_err().message,
            "regularization must be one of 0 (l2), 1 (p43), got 2"
        );
        assert_eq!(
            Direction::parse("").unwrap_err().message,
            r#"direction must be one of "ascending", "descending", got """#
        );
    }
}
