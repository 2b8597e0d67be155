;; The page's two hot loops in WebAssembly SIMD (128-bit): the networks' matrix products in float32, as
;; torch computes them, and the squared latent distances of the map's nearest neighbours in float64, as
;; explorer/store/atlas.py computes them. Hand-written; `bash explorer/app/wasm/build.sh` assembles it into
;; explorer/app/static/js/kernels.js, which nn.js and geometry.js load. Every pointer is a byte offset into
;; the exported memory, which the page lays out and grows (offset 0 is never an array: "no bias").

(module
  (memory (export "memory") 1)

  ;; the sum of a float32x4's lanes: (l0 + l1) + (l2 + l3)
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; y[s, r] = sum_c W[r, c] x[s, c] + b[r] for s < n, r < rows (b = 0: no bias). W: rows x cols, x: n x
  ;; cols, y: n x rows, all float32, row-major. Two rows of W by four rows of x at a time, each lane of an
  ;; accumulator summing the columns c = lane (mod 4), then the lanes, then the columns past the last
  ;; multiple of four. A short last block repeats its last row (of x or of W): the repeated work writes
  ;; the same value to the same place again, so there is no branch for it.
  (func (export "matmul") (param $W i32) (param $b i32) (param $rows i32) (param $cols i32)
        (param $x i32) (param $n i32) (param $y i32)
    (local $s i32) (local $r i32) (local $c i32) (local $cend i32) (local $cbytes i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $w0 i32) (local $w1 i32)
    (local $y0 i32) (local $y1 i32) (local $y2 i32) (local $y3 i32) (local $r1 i32)
    (local $a00 v128) (local $a01 v128) (local $a02 v128) (local $a03 v128)
    (local $a10 v128) (local $a11 v128) (local $a12 v128) (local $a13 v128)
    (local $v0 v128) (local $v1 v128) (local $v v128)
    (local $h00 f32) (local $h01 f32) (local $h02 f32) (local $h03 f32)
    (local $h10 f32) (local $h11 f32) (local $h12 f32) (local $h13 f32)
    (local $b0 f32) (local $b1 f32) (local $t0 f32) (local $t1 f32) (local $u f32)
    (if (i32.or (i32.le_s (local.get $n) (i32.const 0)) (i32.le_s (local.get $rows) (i32.const 0))) (then (return)))
    (local.set $cbytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $cend (i32.shl (i32.and (local.get $cols) (i32.const -4)) (i32.const 2)))
    (local.set $s (i32.const 0))
    (loop $samples
      ;; the four rows of x (the last repeated) and where their answers go
      (local.set $x0 (i32.add (local.get $x) (i32.mul (local.get $s) (local.get $cbytes))))
      (local.set $y0 (i32.add (local.get $y) (i32.shl (i32.mul (local.get $s) (local.get $rows)) (i32.const 2))))
      (local.set $r (select (i32.add (local.get $s) (i32.const 1)) (i32.sub (local.get $n) (i32.const 1))
                            (i32.lt_s (i32.add (local.get $s) (i32.const 1)) (local.get $n))))
      (local.set $x1 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $cbytes))))
      (local.set $y1 (i32.add (local.get $y) (i32.shl (i32.mul (local.get $r) (local.get $rows)) (i32.const 2))))
      (local.set $r (select (i32.add (local.get $s) (i32.const 2)) (i32.sub (local.get $n) (i32.const 1))
                            (i32.lt_s (i32.add (local.get $s) (i32.const 2)) (local.get $n))))
      (local.set $x2 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $cbytes))))
      (local.set $y2 (i32.add (local.get $y) (i32.shl (i32.mul (local.get $r) (local.get $rows)) (i32.const 2))))
      (local.set $r (select (i32.add (local.get $s) (i32.const 3)) (i32.sub (local.get $n) (i32.const 1))
                            (i32.lt_s (i32.add (local.get $s) (i32.const 3)) (local.get $n))))
      (local.set $x3 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $cbytes))))
      (local.set $y3 (i32.add (local.get $y) (i32.shl (i32.mul (local.get $r) (local.get $rows)) (i32.const 2))))
      (local.set $r (i32.const 0))
      (loop $outputs
        (local.set $r1 (select (i32.add (local.get $r) (i32.const 1)) (local.get $r)
                               (i32.lt_s (i32.add (local.get $r) (i32.const 1)) (local.get $rows))))
        (local.set $w0 (i32.add (local.get $W) (i32.mul (local.get $r) (local.get $cbytes))))
        (local.set $w1 (i32.add (local.get $W) (i32.mul (local.get $r1) (local.get $cbytes))))
        (local.set $a00 (v128.const i32x4 0 0 0 0)) (local.set $a01 (v128.const i32x4 0 0 0 0))
        (local.set $a02 (v128.const i32x4 0 0 0 0)) (local.set $a03 (v128.const i32x4 0 0 0 0))
        (local.set $a10 (v128.const i32x4 0 0 0 0)) (local.set $a11 (v128.const i32x4 0 0 0 0))
        (local.set $a12 (v128.const i32x4 0 0 0 0)) (local.set $a13 (v128.const i32x4 0 0 0 0))
        (local.set $c (i32.const 0))
        (block $done4
          (loop $cols4
            (br_if $done4 (i32.ge_u (local.get $c) (local.get $cend)))
            (local.set $v0 (v128.load align=4 (i32.add (local.get $w0) (local.get $c))))
            (local.set $v1 (v128.load align=4 (i32.add (local.get $w1) (local.get $c))))
            (local.set $v (v128.load align=4 (i32.add (local.get $x0) (local.get $c))))
            (local.set $a00 (f32x4.add (local.get $a00) (f32x4.mul (local.get $v0) (local.get $v))))
            (local.set $a10 (f32x4.add (local.get $a10) (f32x4.mul (local.get $v1) (local.get $v))))
            (local.set $v (v128.load align=4 (i32.add (local.get $x1) (local.get $c))))
            (local.set $a01 (f32x4.add (local.get $a01) (f32x4.mul (local.get $v0) (local.get $v))))
            (local.set $a11 (f32x4.add (local.get $a11) (f32x4.mul (local.get $v1) (local.get $v))))
            (local.set $v (v128.load align=4 (i32.add (local.get $x2) (local.get $c))))
            (local.set $a02 (f32x4.add (local.get $a02) (f32x4.mul (local.get $v0) (local.get $v))))
            (local.set $a12 (f32x4.add (local.get $a12) (f32x4.mul (local.get $v1) (local.get $v))))
            (local.set $v (v128.load align=4 (i32.add (local.get $x3) (local.get $c))))
            (local.set $a03 (f32x4.add (local.get $a03) (f32x4.mul (local.get $v0) (local.get $v))))
            (local.set $a13 (f32x4.add (local.get $a13) (f32x4.mul (local.get $v1) (local.get $v))))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $cols4)))
        (local.set $h00 (call $hsum (local.get $a00))) (local.set $h01 (call $hsum (local.get $a01)))
        (local.set $h02 (call $hsum (local.get $a02))) (local.set $h03 (call $hsum (local.get $a03)))
        (local.set $h10 (call $hsum (local.get $a10))) (local.set $h11 (call $hsum (local.get $a11)))
        (local.set $h12 (call $hsum (local.get $a12))) (local.set $h13 (call $hsum (local.get $a13)))
        ;; the columns past the last multiple of four, one at a time
        (block $done1
          (loop $cols1
            (br_if $done1 (i32.ge_u (local.get $c) (local.get $cbytes)))
            (local.set $t0 (f32.load (i32.add (local.get $w0) (local.get $c))))
            (local.set $t1 (f32.load (i32.add (local.get $w1) (local.get $c))))
            (local.set $u (f32.load (i32.add (local.get $x0) (local.get $c))))
            (local.set $h00 (f32.add (local.get $h00) (f32.mul (local.get $t0) (local.get $u))))
            (local.set $h10 (f32.add (local.get $h10) (f32.mul (local.get $t1) (local.get $u))))
            (local.set $u (f32.load (i32.add (local.get $x1) (local.get $c))))
            (local.set $h01 (f32.add (local.get $h01) (f32.mul (local.get $t0) (local.get $u))))
            (local.set $h11 (f32.add (local.get $h11) (f32.mul (local.get $t1) (local.get $u))))
            (local.set $u (f32.load (i32.add (local.get $x2) (local.get $c))))
            (local.set $h02 (f32.add (local.get $h02) (f32.mul (local.get $t0) (local.get $u))))
            (local.set $h12 (f32.add (local.get $h12) (f32.mul (local.get $t1) (local.get $u))))
            (local.set $u (f32.load (i32.add (local.get $x3) (local.get $c))))
            (local.set $h03 (f32.add (local.get $h03) (f32.mul (local.get $t0) (local.get $u))))
            (local.set $h13 (f32.add (local.get $h13) (f32.mul (local.get $t1) (local.get $u))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $cols1)))
        (local.set $b0 (f32.const 0)) (local.set $b1 (f32.const 0))
        (if (local.get $b)
          (then
            (local.set $b0 (f32.load (i32.add (local.get $b) (i32.shl (local.get $r) (i32.const 2)))))
            (local.set $b1 (f32.load (i32.add (local.get $b) (i32.shl (local.get $r1) (i32.const 2)))))))
        (local.set $c (i32.shl (local.get $r) (i32.const 2)))
        (f32.store (i32.add (local.get $y0) (local.get $c)) (f32.add (local.get $h00) (local.get $b0)))
        (f32.store (i32.add (local.get $y1) (local.get $c)) (f32.add (local.get $h01) (local.get $b0)))
        (f32.store (i32.add (local.get $y2) (local.get $c)) (f32.add (local.get $h02) (local.get $b0)))
        (f32.store (i32.add (local.get $y3) (local.get $c)) (f32.add (local.get $h03) (local.get $b0)))
        (local.set $c (i32.shl (local.get $r1) (i32.const 2)))
        (f32.store (i32.add (local.get $y0) (local.get $c)) (f32.add (local.get $h10) (local.get $b1)))
        (f32.store (i32.add (local.get $y1) (local.get $c)) (f32.add (local.get $h11) (local.get $b1)))
        (f32.store (i32.add (local.get $y2) (local.get $c)) (f32.add (local.get $h12) (local.get $b1)))
        (f32.store (i32.add (local.get $y3) (local.get $c)) (f32.add (local.get $h13) (local.get $b1)))
        (local.set $r (i32.add (local.get $r) (i32.const 2)))
        (br_if $outputs (i32.lt_s (local.get $r) (local.get $rows))))
      (local.set $s (i32.add (local.get $s) (i32.const 4)))
      (br_if $samples (i32.lt_s (local.get $s) (local.get $n)))))

  ;; out[j, i] = sum_d (L[i, d] - q[j, d])^2 for i < N, j < nq: L is N x zd, q is nq x zd, out is nq x N,
  ;; all float64. Each lane sums every other dimension; then the two lanes, then an odd last dimension.
  (func (export "sqdist") (param $L i32) (param $N i32) (param $zd i32) (param $q i32) (param $nq i32)
        (param $out i32)
    (local $i i32) (local $j i32) (local $d i32) (local $dend i32) (local $dbytes i32)
    (local $li i32) (local $qj i32) (local $acc v128) (local $t v128) (local $h f64) (local $u f64)
    (if (i32.or (i32.le_s (local.get $N) (i32.const 0)) (i32.le_s (local.get $nq) (i32.const 0))) (then (return)))
    (local.set $dbytes (i32.shl (local.get $zd) (i32.const 3)))
    (local.set $dend (i32.shl (i32.and (local.get $zd) (i32.const -2)) (i32.const 3)))
    (local.set $i (i32.const 0))
    (loop $points
      (local.set $li (i32.add (local.get $L) (i32.mul (local.get $i) (local.get $dbytes))))
      (local.set $j (i32.const 0))
      (loop $queries
        (local.set $qj (i32.add (local.get $q) (i32.mul (local.get $j) (local.get $dbytes))))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $d (i32.const 0))
        (block $done2
          (loop $dims2
            (br_if $done2 (i32.ge_u (local.get $d) (local.get $dend)))
            (local.set $t (f64x2.sub (v128.load align=8 (i32.add (local.get $li) (local.get $d)))
                                     (v128.load align=8 (i32.add (local.get $qj) (local.get $d)))))
            (local.set $acc (f64x2.add (local.get $acc) (f64x2.mul (local.get $t) (local.get $t))))
            (local.set $d (i32.add (local.get $d) (i32.const 16)))
            (br $dims2)))
        (local.set $h (f64.add (f64x2.extract_lane 0 (local.get $acc)) (f64x2.extract_lane 1 (local.get $acc))))
        (if (i32.lt_u (local.get $d) (local.get $dbytes))
          (then
            (local.set $u (f64.sub (f64.load (i32.add (local.get $li) (local.get $d)))
                                   (f64.load (i32.add (local.get $qj) (local.get $d)))))
            (local.set $h (f64.add (local.get $h) (f64.mul (local.get $u) (local.get $u))))))
        (f64.store (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $N)) (local.get $i))
                                                      (i32.const 3)))
                   (local.get $h))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $queries (i32.lt_s (local.get $j) (local.get $nq))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $points (i32.lt_s (local.get $i) (local.get $N))))))
