//! The host/kernel interface: every record the runtime writes for a kernel or
//! reads back from one, declared once as a `#[repr(C)]` Rust struct of 32-bit
//! fields. The WGSL declaration of each is generated from the same field list
//! ([`interface_struct!`]), so the two sides cannot disagree on a field's name,
//! type or position; a compile-time assertion checks each struct's size against
//! its field count (no padding), and `words` / `from_words` are the only
//! conversions to and from buffer contents.

/// A 32-bit field of an interface struct.
pub trait Word: Copy {
    /// Its WGSL type.
    const WGSL: &'static str;
    /// Its bits, as the kernel sees them.
    fn to_word(self) -> u32;
    /// The value of these bits.
    fn from_word(word: u32) -> Self;
}

impl Word for u32 {
    const WGSL: &'static str = "u32";
    fn to_word(self) -> u32 {
        self
    }
    fn from_word(word: u32) -> Self {
        word
    }
}

impl Word for f32 {
    const WGSL: &'static str = "f32";
    fn to_word(self) -> u32 {
        self.to_bits()
    }
    fn from_word(word: u32) -> Self {
        f32::from_bits(word)
    }
}

/// Declares an interface struct: the Rust struct, its WGSL declaration
/// (`NAME::wgsl()`), its size in words (`NAME::WORDS`), and the conversions.
macro_rules! interface_struct {
    ($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident: $ty:ident,)* }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name {
            $($(#[$field_doc])* pub $field: $ty,)*
        }

        impl $name {
            /// Its size in 32-bit words.
            pub const WORDS: usize = [$(stringify!($field)),*].len();

            /// Its WGSL declaration.
            pub fn wgsl() -> String {
                let fields: Vec<String> =
                    vec![$(format!("{}: {}", stringify!($field), <$ty as Word>::WGSL)),*];
                format!("struct {} {{ {} }}\n", stringify!($name), fields.join(", "))
            }

            /// Its fields as buffer words, in order.
            pub fn words(&self) -> [u32; Self::WORDS] {
                [$(Word::to_word(self.$field)),*]
            }

            /// The struct held by `words` (as many as [`Self::WORDS`]; missing
            /// words read as zero).
            pub fn from_words(words: &[u32]) -> Self {
                let mut words = words.iter().copied().chain(std::iter::repeat(0));
                $name { $($field: <$ty as Word>::from_word(words.next().unwrap_or(0)),)* }
            }
        }

        const _: () = assert!(std::mem::size_of::<$name>() == 4 * $name::WORDS);
    };
}

interface_struct! {
    /// What every recurrence and backward kernel reads first (binding 0): the
    /// sizes of one pass and the window of steps one dispatch walks.
    Settings {
        /// Sequences in the pass.
        batch: u32,
        /// Steps per sequence.
        steps: u32,
        /// Lanes per sequence (the plan's).
        lanes: u32,
        /// Newton's iteration cap per segment.
        max_iterations: u32,
        /// Newton's absolute tolerance.
        atol: f32,
        /// Newton's relative tolerance.
        rtol: f32,
        /// The first step this dispatch walks.
        first: u32,
        /// One past the last step this dispatch walks.
        last: u32,
        /// 1: the forward kernels keep every state for a backward pass.
        save_states: u32,
        /// Damped Newton's first `lambda` (the runtime's `Damping`, which
        /// holds the rules).
        damping_lambda: f32,
        /// `lambda`'s factor after a smaller damped update.
        damping_success: f32,
        /// `lambda`'s factor after a larger or non-finite damped update.
        damping_failure: f32,
        /// Beyond this `lambda`, Picard's step (the Jacobians' scale is 0).
        damping_largest: f32,
    }
}

interface_struct! {
    /// What one workgroup of a forward recurrence kernel reports (binding 1, one
    /// record per workgroup); accumulated over the dispatches of a pass.
    Stats {
        /// The most Newton iterations of any of its segments (1: sequential).
        most_iterations: u32,
        /// Its segments that fell back to the sequential method.
        fallbacks: u32,
        /// The largest final Newton update of its segments (`inf`: non-finite).
        last_update: f32,
        /// Damped Newton iterations of its segments, summed.
        damped_iterations: u32,
    }
}

interface_struct! {
    /// The sizes and strides of one matrix product (`gemm.wgsl`), `C = A B` or
    /// `C += A B`, over `groups x splits` workgroup layers along the dispatch's z
    /// axis: group `z / splits` shifts each operand's offset by its group stride
    /// (a grouped product), split `z % splits` takes one range of the depth and
    /// writes its partial product `c_split` words further (see `GemmLaunch`).
    GemmSizes {
        /// Rows of `C`.
        m: u32,
        /// Columns of `C`.
        n: u32,
        /// The depth.
        k: u32,
        /// 1: add to `C`.
        accumulate: u32,
        /// `A[i, k]` is at `a_offset + i a_row + k a_col`.
        a_offset: u32,
        /// See `a_offset`.
        a_row: u32,
        /// See `a_offset`.
        a_col: u32,
        /// `B[k, j]` is at `b_offset + k b_row + j b_col`.
        b_offset: u32,
        /// See `b_offset`.
        b_row: u32,
        /// See `b_offset`.
        b_col: u32,
        /// `C[i, j]` is at `c_offset + i c_row + j`.
        c_offset: u32,
        /// See `c_offset`.
        c_row: u32,
        /// Per group, added to `a_offset`.
        a_group: u32,
        /// Per group, added to `b_offset`.
        b_group: u32,
        /// Per group, added to `c_offset`.
        c_group: u32,
        /// Layers per group: ranges of the depth (1: unsplit).
        splits: u32,
        /// Depths per split.
        k_split: u32,
        /// Per split, added to `c_offset` (the words of every group's `C`).
        c_split: u32,
        /// 0, or the groups after which `A`'s group offsets repeat: group `z`
        /// adds `(z % a_cycle) a_group` (several products of one operand).
        a_cycle: u32,
        /// The same for `B`.
        b_cycle: u32,
        /// 0, or the depths per segment where the depth runs through several
        /// products in turn (their sum, e.g. `dx = sum_p dP_p W_p`): depth `k`
        /// is depth `k % segment` of segment `k / segment`, whose `A` starts
        /// `(k / segment) a_segment` words on and `B` `(k / segment) b_segment`.
        segment: u32,
        /// See `segment`.
        a_segment: u32,
        /// See `segment`.
        b_segment: u32,
    }
}

interface_struct! {
    /// A gathered sum's record (`gather.wgsl`): where its table's parts start.
    GatherSizes {
        /// The words summed into.
        targets: u32,
        /// 1: add to what the destination holds.
        accumulate: u32,
        /// Where the table's `targets + 1` list starts are.
        starts_at: u32,
        /// Where the table's target indices are.
        targets_at: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_follow_the_rust_fields() {
        assert_eq!(
            Stats::wgsl(),
            "struct Stats { most_iterations: u32, fallbacks: u32, last_update: f32, damped_iterations: u32 }\n"
        );
        assert_eq!(Settings::WORDS, 13);
        let settings = Settings { batch: 3, atol: 1.5, save_states: 1, ..Settings::default() };
        let words = settings.words();
        assert_eq!(words[0], 3);
        assert_eq!(words[4], 1.5f32.to_bits());
        assert_eq!(Settings::from_words(&words), settings);
    }
}
