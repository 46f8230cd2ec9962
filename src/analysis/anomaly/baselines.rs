//! NAB's reference detectors, re-implemented from their definitions to
//! check our scorer against NAB's published figures: the random detector
//! (a uniform score per row from Python's Mersenne Twister seeded with 42
//! for every file) and the windowed Gaussian (the tail probability of each
//! value under a Gaussian fitted to a sliding window of the values before).

/// MT19937, the generator behind Python's `random`, so that the random
/// detector draws the very numbers NAB's did.
pub struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    fn init_genrand(s: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = s;
        for i in 1..624 {
            state[i] = 1_812_433_253u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, index: 624 }
    }

    /// Seeded the way Python's `random.seed(n)` seeds from a small
    /// non-negative integer (the key array `[n]`).
    pub fn python_seed(n: u32) -> Self {
        let key = [n];
        let mut mt = Self::init_genrand(19_650_218);
        let s = &mut mt.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..624.max(key.len()) {
            s[i] = (s[i] ^ (s[i - 1] ^ (s[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                s[0] = s[623];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..623 {
            s[i] = (s[i] ^ (s[i - 1] ^ (s[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                s[0] = s[623];
                i = 1;
            }
        }
        s[0] = 0x8000_0000;
        mt
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % 624] & 0x7fff_ffff);
                let mut v = self.state[(k + 397) % 624] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.state[k] = v;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A float in [0, 1) with 53 random bits, as Python's `random()`.
    pub fn next_f64(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }
}

/// NAB's random detector on a file of `n` rows.
pub fn random_scores(n: usize) -> Vec<f64> {
    let mut mt = Mt19937::python_seed(42);
    (0..n).map(|_| mt.next_f64()).collect()
}

/// NAB's windowed Gaussian detector (as its current code defines it): the
/// score of a value is `1 - Q(|z|)` under the mean and population standard
/// deviation of a window of the values before it, which grows to 6,400
/// values and then slides forward 100 values at a time.
pub fn windowed_gaussian_scores(values: &[f64]) -> Vec<f64> {
    const WINDOW: usize = 6400;
    const STEP: usize = 100;
    let mut window: std::collections::VecDeque<f64> = std::collections::VecDeque::new();
    let mut pending: Vec<f64> = Vec::new();
    let (mut mean, mut std) = (0.0, 1.0);
    let stats = |w: &std::collections::VecDeque<f64>| {
        let n = w.len() as f64;
        let m = w.iter().sum::<f64>() / n;
        let var = w.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
        let s = var.sqrt();
        (m, if s == 0.0 { 0.000_001 } else { s })
    };
    let mut out = Vec::with_capacity(values.len());
    for &x in values {
        let score = if window.is_empty() {
            0.0
        } else {
            let z = (x - mean).abs() / std;
            1.0 - 0.5 * super::stats::erfc(z / std::f64::consts::SQRT_2)
        };
        out.push(score);
        if window.len() < WINDOW {
            window.push_back(x);
            (mean, std) = stats(&window);
        } else {
            pending.push(x);
            if pending.len() == STEP {
                window.drain(..STEP);
                window.extend(pending.drain(..));
                (mean, std) = stats(&window);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mersenne_twister_matches_python_random_seed_42() {
        // Python 3: random.seed(42); [random.random() for _ in range(3)]
        let mut mt = Mt19937::python_seed(42);
        let want = [
            0.6394267984578837,
            0.025010755222666936,
            0.27502931836911926,
        ];
        for w in want {
            assert_eq!(mt.next_f64(), w);
        }
    }
}
