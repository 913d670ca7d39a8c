namespace Decomp.Core

#nowarn "9" // native pointers into libtorch's CPU storage

open System
open System.Numerics
open System.Runtime.CompilerServices
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop
open TorchSharp

/// What Decomp's hand-written CPU kernels (`HiddenLayerKernel`, `LogSumExpKernel`, `Scores.PositiveFirst`) share: when they apply, the address
/// of a tensor's values, and splitting work over libtorch's intra-op threads. The kernels exist where eager libtorch
/// makes several passes over a large tensor that one fused SIMD pass can replace (issue 17); elsewhere, and off the
/// CPU, libtorch's operators compute the same functions.
module internal CpuKernel =

    /// Lanes of a SIMD register of float32 (8 with AVX2, 4 with NEON).
    let width = Vector<float32>.Count

    /// Whether a CPU tensor's values fit one span (.NET's spans index with int), as the kernels read them.
    let fitsOneSpan (t: torch.Tensor) = t.device_type = DeviceType.CPU && t.NumberOfElements * int64 t.ElementSize < int64 Int32.MaxValue

    /// Whether the kernels serve these tensors: float32 on the CPU, small enough for one span, and a CPU whose SIMD
    /// registers .NET drives in hardware (x64's AVX2, ARM's NEON).
    let applies (tensors: torch.Tensor list) =
        Vector.IsHardwareAccelerated
        && tensors
           |> List.forall (fun t ->
               t.dtype = torch.float32 && fitsOneSpan t)

    /// The address of a contiguous CPU tensor's first element, of any dtype (libtorch's storage is native: it does not
    /// move).
    let bytesOf (t: torch.Tensor) : nativeptr<byte> =
        if not (t.is_contiguous ()) then invalidOp "CpuKernel needs a contiguous tensor."
        let bytes = t.bytes
        use p = fixed bytes
        NativePtr.ofNativeInt<byte> (NativePtr.toNativeInt p)

    /// The address of a contiguous float32 CPU tensor's first element.
    let address (t: torch.Tensor) : nativeptr<float32> = NativePtr.ofNativeInt<float32> (NativePtr.toNativeInt (bytesOf t))

    /// Runs `body` for items 0 .. count - 1 on up to `torch.get_num_threads ()` threads.
    let forEach (count: int) (body: int -> unit) =
        let threads = torch.get_num_threads ()
        if threads > 1 && count > 1 then
            Parallel.For(0, count, ParallelOptions(MaxDegreeOfParallelism = threads), body) |> ignore
        else
            for k in 0 .. count - 1 do
                body k

    /// Runs `body row` for rows 0 .. rows - 1 of K elements each, in items of consecutive rows (a few thousand elements,
    /// so that starting an item costs little against its work) over libtorch's threads.
    let forRows (rows: int64) (k: int64) (body: int64 -> unit) =
        let perItem = max 1L (4096L / max 1L k)
        forEach (int ((rows + perItem - 1L) / perItem)) (fun item ->
            for row in int64 item * perItem .. min rows ((int64 item + 1L) * perItem) - 1L do
                body row)

    let inline load (p: nativeptr<float32>) (j: int) = Vector.Load(NativePtr.add p j)
    let inline store (p: nativeptr<float32>) (j: int) (v: Vector<float32>) = Vector.Store(v, NativePtr.add p j)

    /// e^x in every lane, for x <= 0 (what a log-sum-exp needs: every score minus the row's maximum or its log-sum-exp),
    /// within 2 units in the last place of float32 (Cephes' expf: x = n ln 2 + r with |r| <= ln 2 / 2, a degree-6
    /// polynomial for e^r, then 2^n put into the exponent bits). Arguments below -87.3, where e^x leaves float32's
    /// normal range, give 0. About three times cheaper than `Vector.Exp`, which computes in double precision.
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let expNonPositive (x: Vector<float32>) =
        let underflow = Vector.LessThan(x, Vector<float32>(-87.3f))
        let x = Vector.Max(x, Vector<float32>(-87.3f))
        let n = Vector.Floor(x * Vector<float32>(1.44269504088896341f) + Vector<float32>(0.5f))
        let r = x - n * Vector<float32>(0.693359375f) - n * Vector<float32>(-2.12194440e-4f)
        let mutable p = Vector<float32>(1.9875691500e-4f)
        p <- Vector.MultiplyAddEstimate(p, r, Vector<float32>(1.3981999507e-3f))
        p <- Vector.MultiplyAddEstimate(p, r, Vector<float32>(8.3334519073e-3f))
        p <- Vector.MultiplyAddEstimate(p, r, Vector<float32>(4.1665795894e-2f))
        p <- Vector.MultiplyAddEstimate(p, r, Vector<float32>(1.6666665459e-1f))
        p <- Vector.MultiplyAddEstimate(p, r, Vector<float32>(5.0000001201e-1f))
        let er = Vector.MultiplyAddEstimate(p, r * r, r + Vector<float32>.One)
        let twoToN = Vector.AsVectorSingle(Vector.ShiftLeft(Vector.ConvertToInt32 n + Vector<int>(127), 23))
        Vector.ConditionalSelect(underflow, Vector<float32>.Zero, er * twoToN)
