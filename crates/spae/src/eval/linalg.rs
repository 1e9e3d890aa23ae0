//! Dense symmetric linear algebra in f64 for the Fréchet distance: the symmetric eigenproblem
//! (Householder reduction to tridiagonal form, then the implicit QL iteration with Wilkinson-style
//! shifts, as in EISPACK's `tred2` / `tql2`) and the products `A^T B`, `A B^T` of row-major
//! matrices.

/// Eigenvalues of a symmetric `n x n` matrix (row-major; only its values are read, so it must be
/// symmetric), in ascending order, and, when `vectors` is set, the orthonormal eigenvectors as the
/// rows of a row-major `n x n` matrix (row `i` belongs to value `i`).
pub fn symmetric_eigen(a: &[f64], n: usize, vectors: bool) -> (Vec<f64>, Option<Vec<f64>>) {
    assert_eq!(a.len(), n * n, "symmetric_eigen: not an {n}x{n} matrix");
    if n == 0 {
        return (Vec::new(), vectors.then(Vec::new));
    }
    let mut v = a.to_vec();
    let (mut d, mut e) = (vec![0.0; n], vec![0.0; n]);
    tridiagonalize(&mut v, n, &mut d, &mut e, vectors);
    // `v` holds Q (columns = basis); the QL rotations act on its transpose's rows.
    let mut rows = vectors.then(|| transpose(&v, n));
    tridiagonal_ql(&mut d, &mut e, rows.as_deref_mut(), n);
    // Ascending order, vectors following their values.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| d[i].total_cmp(&d[j]));
    let values = order.iter().map(|&i| d[i]).collect();
    let vectors = rows.map(|r| {
        order
            .iter()
            .flat_map(|&i| r[i * n..(i + 1) * n].iter().copied())
            .collect()
    });
    (values, vectors)
}

fn transpose(m: &[f64], n: usize) -> Vec<f64> {
    (0..n * n).map(|k| m[(k % n) * n + k / n]).collect()
}

/// Householder reduction of the symmetric matrix in `v` to tridiagonal form: diagonal `d`,
/// sub-diagonal `e[1..]`. With `accumulate`, `v` ends as the orthogonal transform Q
/// (`A = Q T Q^T`); otherwise `v` is left as scratch.
fn tridiagonalize(v: &mut [f64], n: usize, d: &mut [f64], e: &mut [f64], accumulate: bool) {
    let at = |i: usize, j: usize| i * n + j;
    d.copy_from_slice(&v[at(n - 1, 0)..at(n - 1, 0) + n]);
    for i in (1..n).rev() {
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
                v[at(j, i)] = 0.0;
            }
        } else {
            for x in d[..i].iter_mut() {
                *x /= scale;
                h += *x * *x;
            }
            let f = d[i - 1];
            let g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            e[..i].fill(0.0);
            for j in 0..i {
                let f = d[j];
                v[at(j, i)] = f;
                let mut g = e[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(k, j)] * d[k];
                    e[k] += v[at(k, j)] * f;
                }
                e[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                for k in j..i {
                    v[at(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    if !accumulate {
        for (j, x) in d.iter_mut().enumerate() {
            *x = v[at(j, j)];
        }
        e[0] = 0.0;
        return;
    }
    for i in 0..n - 1 {
        v[at(n - 1, i)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                let g: f64 = (0..=i).map(|k| v[at(k, i + 1)] * v[at(k, j)]).sum();
                for k in 0..=i {
                    v[at(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
        v[at(n - 1, j)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;
}

/// Implicit QL iteration on the symmetric tridiagonal matrix (`d`, `e[1..]`): `d` ends as the
/// eigenvalues; each plane rotation is applied to `rows` (the transposed basis), whose rows end
/// as the eigenvectors.
fn tridiagonal_ql(d: &mut [f64], e: &mut [f64], mut rows: Option<&mut [f64]>, n: usize) {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let (mut f, mut tst1) = (0.0f64, 0.0f64);
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > f64::EPSILON * tst1 {
            m += 1;
        }
        if m > l {
            loop {
                let g = d[l];
                let p = (d[l + 1] - g) / (2.0 * e[l]);
                let r = p.hypot(1.0).copysign(p);
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let h = g - d[l];
                for x in d[l + 2..].iter_mut() {
                    *x -= h;
                }
                f += h;
                let mut p = d[m];
                let (mut c, mut c2, mut c3) = (1.0, 1.0, 1.0);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0, 0.0);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    let g = c * e[i];
                    let h = c * p;
                    let r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    if let Some(rows) = rows.as_deref_mut() {
                        let (head, tail) = rows.split_at_mut((i + 1) * n);
                        let (ri, rj) = (&mut head[i * n..], &mut tail[..n]);
                        for (x, y) in ri.iter_mut().zip(rj.iter_mut()) {
                            let h = *y;
                            *y = s * *x + c * h;
                            *x = c * *x - s * h;
                        }
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= f64::EPSILON * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
}

/// `A^T B` for row-major `A` (`k x m`) and `B` (`k x n`): a row-major `m x n` matrix.
pub fn matmul_tn(a: &[f64], b: &[f64], k: usize, m: usize, n: usize) -> Vec<f64> {
    assert_eq!(a.len(), k * m, "matmul_tn: A is not {k}x{m}");
    assert_eq!(b.len(), k * n, "matmul_tn: B is not {k}x{n}");
    // A^T: element (i, p) at a[p * m + i]; B: element (p, j) at b[p * n + j].
    product(a, [m as isize, 1], b, [1, n as isize], [m, k, n])
}

/// `A B^T` for row-major `A` (`m x k`) and `B` (`n x k`): a row-major `m x n` matrix.
pub fn matmul_nt(a: &[f64], b: &[f64], k: usize, m: usize, n: usize) -> Vec<f64> {
    assert_eq!(a.len(), m * k, "matmul_nt: A is not {m}x{k}");
    assert_eq!(b.len(), n * k, "matmul_nt: B is not {n}x{k}");
    // A: element (i, p) at a[i * k + p]; B^T: element (p, j) at b[j * k + p].
    product(a, [1, k as isize], b, [k as isize, 1], [m, k, n])
}

/// The row-major `m x n` product of an `m x k` left and a `k x n` right factor, each given by
/// its (column, row) strides.
fn product(
    lhs: &[f64],
    lhs_strides: [isize; 2],
    rhs: &[f64],
    rhs_strides: [isize; 2],
    [m, k, n]: [usize; 3],
) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    if m == 0 || n == 0 {
        return out;
    }
    // SAFETY: dst is m x n row-major (column stride 1, row stride n); the callers checked that
    // both factors' slices hold every element their strides address.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            lhs_strides[0],
            lhs_strides[1],
            rhs.as_ptr(),
            rhs_strides[0],
            rhs_strides[1],
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(0),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_by_hand() {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3, vectors (1, -1) / sqrt 2 and (1, 1) / sqrt 2.
        let (values, vectors) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2, true);
        assert!((values[0] - 1.0).abs() < 1e-12 && (values[1] - 3.0).abs() < 1e-12);
        let v = vectors.unwrap();
        let r = std::f64::consts::FRAC_1_SQRT_2;
        assert!((v[0].abs() - r).abs() < 1e-12 && (v[0] + v[1]).abs() < 1e-12);
        assert!((v[2].abs() - r).abs() < 1e-12 && (v[2] - v[3]).abs() < 1e-12);
        let (only, none) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2, false);
        assert!(none.is_none());
        assert!((only[0] - 1.0).abs() < 1e-12 && (only[1] - 3.0).abs() < 1e-12);
    }

    #[test]
    fn diagonal_and_rank_one() {
        let (values, _) =
            symmetric_eigen(&[3.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 2.0], 3, false);
        assert_eq!(values, vec![-1.0, 2.0, 3.0]);
        // u u^T with u = (1, 2, 2): one eigenvalue |u|^2 = 9, two zeros.
        let u = [1.0, 2.0, 2.0];
        let a: Vec<f64> = (0..9).map(|k| u[k / 3] * u[k % 3]).collect();
        let (values, _) = symmetric_eigen(&a, 3, false);
        assert!(values[0].abs() < 1e-12 && values[1].abs() < 1e-12);
        assert!((values[2] - 9.0).abs() < 1e-12);
    }

    #[test]
    fn reconstructs_a_random_symmetric_matrix() {
        let n = 7;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let x = ((i * 31 + j * 17) % 13) as f64 / 6.0 - 1.0;
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        let (values, vectors) = symmetric_eigen(&a, n, true);
        let v = vectors.unwrap();
        for i in 0..n {
            for j in 0..n {
                let back: f64 = (0..n)
                    .map(|k| v[k * n + i] * values[k] * v[k * n + j])
                    .sum();
                assert!((back - a[i * n + j]).abs() < 1e-10, "A[{i}][{j}]");
                let dot: f64 = (0..n).map(|k| v[i * n + k] * v[j * n + k]).sum();
                assert!(
                    (dot - f64::from(u8::from(i == j))).abs() < 1e-10,
                    "V V^T [{i}][{j}]"
                );
            }
        }
        let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
        assert!((values.iter().sum::<f64>() - trace).abs() < 1e-10);
        let (only, _) = symmetric_eigen(&a, n, false);
        for (x, y) in only.iter().zip(&values) {
            assert!((x - y).abs() < 1e-10);
        }
    }

    #[test]
    fn a_covariance_sized_problem_is_accurate() {
        // A Gram matrix X^T X of 40 pseudo-random rows in 200 dimensions: rank 40, 160 zero
        // eigenvalues, as the covariance of a small image set. Checks A V = V Lambda.
        let (n, rows) = (200, 40);
        let x: Vec<f64> = (0..rows * n)
            .map(|i| ((i as f64 * 0.618_034).fract() - 0.5) * (1.0 + (i % 7) as f64))
            .collect();
        let a = matmul_tn(&x, &x, rows, n, n);
        let (values, vectors) = symmetric_eigen(&a, n, true);
        let v = vectors.unwrap();
        let scale = values[n - 1];
        assert!(values[..n - rows].iter().all(|l| l.abs() < 1e-9 * scale));
        for k in (0..n).step_by(17) {
            for i in 0..n {
                let av: f64 = (0..n).map(|j| a[i * n + j] * v[k * n + j]).sum();
                assert!(
                    (av - values[k] * v[k * n + i]).abs() < 1e-9 * scale,
                    "vector {k}"
                );
            }
        }
    }

    #[test]
    fn matmul_tn_by_hand() {
        // A = [[1, 2], [3, 4]] (2 x 2), B = [[1, 0, 1], [0, 1, 1]]: A^T B = [[1, 3, 4], [2, 4, 6]].
        let c = matmul_tn(
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0],
            2,
            2,
            3,
        );
        assert_eq!(c, vec![1.0, 3.0, 4.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn matmul_nt_by_hand() {
        // A = [[1, 2], [3, 4]] (2 x 2), B = [[1, 0], [0, 1], [1, 1]] (3 x 2):
        // A B^T = [[1, 2, 3], [3, 4, 7]].
        let c = matmul_nt(
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
            2,
            2,
            3,
        );
        assert_eq!(c, vec![1.0, 2.0, 3.0, 3.0, 4.0, 7.0]);
    }
}
