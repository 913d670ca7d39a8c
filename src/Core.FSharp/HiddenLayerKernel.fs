namespace Decomp.Core

#nowarn "9" // native pointers into libtorch's CPU storage and into scratch memory

open System
open System.Numerics
open System.Runtime.InteropServices
open Microsoft.FSharp.NativeInterop
open TorchSharp

/// `HiddenLayerScores` (`scores = relu(x W + b) . q` and its backward pass) as one fused SIMD kernel on the CPU
/// (issue 17): the pre-activations z = x W + b of four candidates and two SIMD vectors of hidden units at a time are
/// computed in registers, used there (for the score, or for dz and the weight gradient) and dropped, so the n M H
/// activations never reach memory. Eager libtorch could not do this: `baddbmm` wrote z to memory, and the ReLU, the
/// product with q, the sums and, backward, the mask, dq, dz and db were each another operator reading and writing n M H
/// elements (four passes forward, seven backward), the bound on InfoNCE_S's speed at large K.
///
/// Arithmetic: forward 2 M in H multiply-adds per example as libtorch; backward recomputes z (as the chunked libtorch
/// version did) and accumulates dW = sum x^T dz in the same sweep. The input's gradient is not computed here:
/// `HiddenLayerScores` uses libtorch's operators when x needs one (an encoder with a hidden layer below this one).
///
/// Results depend neither on scheduling nor on the thread count: every score and dq row is computed by one thread;
/// the weight and bias gradients are summed per (run, fixed segment of examples) in example order, then over the
/// segments in order.
module internal HiddenLayerKernel =

    open CpuKernel

    /// Segments of examples per run in the backward pass (see `scoresBackward`).
    let private segmentsPerRun = 8

    /// Hidden units are taken two SIMD vectors at a time; H is padded with zero units to a multiple of that (a zero
    /// unit has z = 0, so it adds nothing to a score or a gradient).
    let private paddedWidth (h: int) = (h + 2 * width - 1) / (2 * width) * (2 * width)

    /// Zeroed native scratch of `count` floats, freed by `release`.
    let private scratch (count: int) : nativeptr<float32> =
        NativePtr.ofVoidPtr<float32> (NativeMemory.AllocZeroed(unativeint (max 1 count) * 4un))

    let private release (p: nativeptr<float32>) = NativeMemory.Free(NativePtr.toVoidPtr p)

    let inline private fma (a: Vector<float32>) (b: Vector<float32>) (c: Vector<float32>) = Vector.MultiplyAddEstimate(a, b, c)
    let inline private relu (a: Vector<float32>) = Vector.MaxNative(a, Vector<float32>.Zero)

    /// Copies rows [rows, h] (row stride h) into [rows, hp], zero-padded.
    let private padRows (source: nativeptr<float32>) (rows: int) (h: int) (hp: int) (target: nativeptr<float32>) =
        for row in 0 .. rows - 1 do
            Buffer.MemoryCopy(NativePtr.toVoidPtr (NativePtr.add source (row * h)), NativePtr.toVoidPtr (NativePtr.add target (row * hp)), int64 hp * 4L, int64 h * 4L)

    /// The layer's weights and biases, zero-padded to hp units: W [R, in, hp], b [R, hp].
    type private PaddedLayer(weight: torch.Tensor, bias: torch.Tensor) =
        let runs, input, h = int weight.shape[0], int weight.shape[1], int weight.shape[2]
        let hp = paddedWidth h
        let w = scratch (runs * input * hp)
        let b = scratch (runs * hp)
        do
            padRows (address weight) (runs * input) h hp w
            padRows (address bias) runs h hp b
        member _.Weight(run: int) = NativePtr.add w (run * input * hp)
        member _.Bias(run: int) = NativePtr.add b (run * hp)
        member _.Padded = hp
        interface IDisposable with
            member _.Dispose() =
                release w
                release b

    /// The candidates j .. j + 3 of an example's rows x [M, in]; past the last candidate the last one is repeated (and
    /// its results are dropped or weighted 0).
    let inline private rowOf (x: nativeptr<float32>) (m: int) (input: int) (j: int) = NativePtr.add x ((min j (m - 1)) * input)

    /// Pre-activations z = x W + b of four candidates on two SIMD vectors of units: the kernel's register tile.
    [<Struct; NoEquality; NoComparison>]
    type private Tile =
        { Z00: Vector<float32>; Z01: Vector<float32>; Z10: Vector<float32>; Z11: Vector<float32>
          Z20: Vector<float32>; Z21: Vector<float32>; Z30: Vector<float32>; Z31: Vector<float32> }

    /// The `Tile` of candidate rows x0 .. x3 (each [in]) at units v .. v + 2 width - 1 of a run's padded layer, w [in,
    /// hp] and b [hp]: eight accumulators, each input adding a product of a candidate's value and a row of W.
    let inline private tileAt (w: nativeptr<float32>) (b: nativeptr<float32>) (hp: int) (input: int) (x0: nativeptr<float32>) (x1: nativeptr<float32>) (x2: nativeptr<float32>) (x3: nativeptr<float32>) (v: int) =
        let u = v + width
        // One binding each: F# allocates a tuple for a pattern of mutable values.
        let mutable a00 = load b v
        let mutable a01 = load b u
        let mutable a10 = a00
        let mutable a11 = a01
        let mutable a20 = a00
        let mutable a21 = a01
        let mutable a30 = a00
        let mutable a31 = a01
        for k in 0 .. input - 1 do
            let wk = NativePtr.add w (k * hp)
            let w0, w1 = load wk v, load wk u
            let c0, c1, c2, c3 = Vector<float32>(NativePtr.get x0 k), Vector<float32>(NativePtr.get x1 k), Vector<float32>(NativePtr.get x2 k), Vector<float32>(NativePtr.get x3 k)
            a00 <- fma c0 w0 a00
            a01 <- fma c0 w1 a01
            a10 <- fma c1 w0 a10
            a11 <- fma c1 w1 a11
            a20 <- fma c2 w0 a20
            a21 <- fma c2 w1 a21
            a30 <- fma c3 w0 a30
            a31 <- fma c3 w1 a31
        { Z00 = a00; Z01 = a01; Z10 = a10; Z11 = a11; Z20 = a20; Z21 = a21; Z30 = a30; Z31 = a31 }

    /// The score gradient of candidate j, broadcast; 0 past the last candidate (a repeated row weighs nothing).
    let inline private gradientOf (g: nativeptr<float32>) (m: int) (j: int) = Vector<float32>(if j < m then NativePtr.get g j else 0.0f)

    /// dz = g q 1[z > 0] for one vector of units.
    let inline private dz (z: Vector<float32>) (g: Vector<float32>) (q: Vector<float32>) =
        Vector.ConditionalSelect(Vector.GreaterThan(z, Vector<float32>.Zero), g * q, Vector<float32>.Zero)

    /// `scores[r, i, j] = sum_h q[r, i, h] relu(x[r, i, j] W[r] + b[r])_h`: x [R, n, M, in], W [R, in, H], b [R, 1, H],
    /// q [R, n, H] (contiguous float32 CPU tensors) give [R, n, M].
    let scores (x: torch.Tensor) (weight: torch.Tensor) (bias: torch.Tensor) (queries: torch.Tensor) : torch.Tensor =
        let runs, n, m, input = int x.shape[0], int x.shape[1], int x.shape[2], int x.shape[3]
        let h = int weight.shape[2]
        let result = torch.empty([| int64 runs; int64 n; int64 m |], dtype = torch.float32)
        use layer = new PaddedLayer(weight, bias)
        let hp = layer.Padded
        let xs, qs, ss = address x, address queries, address result
        forEach (runs * n) (fun example ->
            let r = example / n
            let w, b = layer.Weight r, layer.Bias r
            let q = NativePtr.stackalloc<float32> hp
            padRows (NativePtr.add qs (example * h)) 1 h hp q
            let xRows = NativePtr.add xs (example * m * input)
            let sRow = NativePtr.add ss (example * m)
            let zero = Vector<float32>.Zero
            for j in 0 .. 4 .. m - 1 do
                let x0, x1, x2, x3 = rowOf xRows m input j, rowOf xRows m input (j + 1), rowOf xRows m input (j + 2), rowOf xRows m input (j + 3)
                let mutable s0 = zero
                let mutable s1 = zero
                let mutable s2 = zero
                let mutable s3 = zero
                for v in 0 .. 2 * width .. hp - 1 do
                    let t = tileAt w b hp input x0 x1 x2 x3 v
                    let q0, q1 = load q v, load q (v + width)
                    s0 <- fma (relu t.Z01) q1 (fma (relu t.Z00) q0 s0)
                    s1 <- fma (relu t.Z11) q1 (fma (relu t.Z10) q0 s1)
                    s2 <- fma (relu t.Z21) q1 (fma (relu t.Z20) q0 s2)
                    s3 <- fma (relu t.Z31) q1 (fma (relu t.Z30) q0 s3)
                NativePtr.set sRow j (Vector.Sum s0)
                if j + 1 < m then NativePtr.set sRow (j + 1) (Vector.Sum s1)
                if j + 2 < m then NativePtr.set sRow (j + 2) (Vector.Sum s2)
                if j + 3 < m then NativePtr.set sRow (j + 3) (Vector.Sum s3))
        result

    /// The gradients of `scores` with respect to W, b and q given the scores' gradient g [R, n, M]:
    ///
    /// - `dq[r, i] = sum_j g[r, i, j] relu(z[r, i, j])`;
    /// - `dz[r, i, j] = g[r, i, j] q[r, i] 1[z[r, i, j] > 0]` (ReLU's derivative at 0 is 0, as autograd's);
    /// - `dW[r] = sum_{i, j} x[r, i, j]^T dz[r, i, j]`, `db[r] = sum_{i, j} dz[r, i, j]`.
    ///
    /// Returns (dW [R, in, H], db [R, 1, H], dq [R, n, H]).
    let scoresBackward (x: torch.Tensor) (weight: torch.Tensor) (bias: torch.Tensor) (queries: torch.Tensor) (gradient: torch.Tensor) =
        let runs, n, m, input = int x.shape[0], int x.shape[1], int x.shape[2], int x.shape[3]
        let h = int weight.shape[2]
        let dWeight = torch.empty([| int64 runs; int64 input; int64 h |], dtype = torch.float32)
        let dBias = torch.empty([| int64 runs; 1L; int64 h |], dtype = torch.float32)
        let dQueries = torch.empty([| int64 runs; int64 n; int64 h |], dtype = torch.float32)
        use layer = new PaddedLayer(weight, bias)
        let hp = layer.Padded
        // Each run's examples in `segmentsPerRun` segments, each summing its own share of dW and db: enough items to
        // keep the threads busy, and a split that does not depend on the thread count, so neither do the results.
        let segments = min n segmentsPerRun
        let dWeightParts = scratch (runs * segments * input * hp)
        let dBiasParts = scratch (runs * segments * hp)
        try
            let xs, qs, gs, dqs = address x, address queries, address gradient, address dQueries
            forEach (runs * segments) (fun part ->
                let r, segment = part / segments, part % segments
                let w, b = layer.Weight r, layer.Bias r
                let dW = NativePtr.add dWeightParts (part * input * hp)
                let db = NativePtr.add dBiasParts (part * hp)
                let q = NativePtr.stackalloc<float32> hp
                let dq = NativePtr.stackalloc<float32> hp
                for i in segment * n / segments .. (segment + 1) * n / segments - 1 do
                    let example = r * n + i
                    padRows (NativePtr.add qs (example * h)) 1 h hp q
                    for k in 0 .. hp - 1 do
                        NativePtr.set dq k 0.0f
                    let xRows = NativePtr.add xs (example * m * input)
                    let gRow = NativePtr.add gs (example * m)
                    for j in 0 .. 4 .. m - 1 do
                        let x0, x1, x2, x3 = rowOf xRows m input j, rowOf xRows m input (j + 1), rowOf xRows m input (j + 2), rowOf xRows m input (j + 3)
                        let g0, g1, g2, g3 = gradientOf gRow m j, gradientOf gRow m (j + 1), gradientOf gRow m (j + 2), gradientOf gRow m (j + 3)
                        for v in 0 .. 2 * width .. hp - 1 do
                            let u = v + width
                            let t = tileAt w b hp input x0 x1 x2 x3 v
                            store dq v (fma (relu t.Z30) g3 (fma (relu t.Z20) g2 (fma (relu t.Z10) g1 (fma (relu t.Z00) g0 (load dq v)))))
                            store dq u (fma (relu t.Z31) g3 (fma (relu t.Z21) g2 (fma (relu t.Z11) g1 (fma (relu t.Z01) g0 (load dq u)))))
                            let q0, q1 = load q v, load q u
                            let d00, d01, d10, d11 = dz t.Z00 g0 q0, dz t.Z01 g0 q1, dz t.Z10 g1 q0, dz t.Z11 g1 q1
                            let d20, d21, d30, d31 = dz t.Z20 g2 q0, dz t.Z21 g2 q1, dz t.Z30 g3 q0, dz t.Z31 g3 q1
                            store db v (load db v + d00 + d10 + d20 + d30)
                            store db u (load db u + d01 + d11 + d21 + d31)
                            for k in 0 .. input - 1 do
                                let dWk = NativePtr.add dW (k * hp)
                                let c0, c1, c2, c3 = Vector<float32>(NativePtr.get x0 k), Vector<float32>(NativePtr.get x1 k), Vector<float32>(NativePtr.get x2 k), Vector<float32>(NativePtr.get x3 k)
                                store dWk v (fma c3 d30 (fma c2 d20 (fma c1 d10 (fma c0 d00 (load dWk v)))))
                                store dWk u (fma c3 d31 (fma c2 d21 (fma c1 d11 (fma c0 d01 (load dWk u)))))
                    Buffer.MemoryCopy(NativePtr.toVoidPtr dq, NativePtr.toVoidPtr (NativePtr.add dqs (example * h)), int64 h * 4L, int64 h * 4L))
            // The segments' shares, summed in segment order.
            let dWs, dbs = address dWeight, address dBias
            for r in 0 .. runs - 1 do
                for k in 0 .. input - 1 do
                    for unit in 0 .. h - 1 do
                        let mutable total = 0.0f
                        for segment in 0 .. segments - 1 do
                            total <- total + NativePtr.get dWeightParts (((r * segments + segment) * input + k) * hp + unit)
                        NativePtr.set dWs ((r * input + k) * h + unit) total
                for unit in 0 .. h - 1 do
                    let mutable total = 0.0f
                    for segment in 0 .. segments - 1 do
                        total <- total + NativePtr.get dBiasParts ((r * segments + segment) * hp + unit)
                    NativePtr.set dbs (r * h + unit) total
        finally
            release dWeightParts
            release dBiasParts
        dWeight, dBias, dQueries
