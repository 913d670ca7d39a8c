/// Moving numbers between plain F# arrays and TorchSharp tensors in tests.
module Decomp.Core.Tests.Tensors

open TorchSharp

let ofMatrix (dtype: torch.ScalarType) (values: float[,]) : torch.Tensor =
    torch.tensor(values, dtype = torch.float64).to_type dtype

let ofVector (dtype: torch.ScalarType) (values: float[]) : torch.Tensor =
    torch.tensor(values, dtype = torch.float64).to_type dtype

let toArray (t: torch.Tensor) : float[] =
    use host = t.detach().to_type(torch.float64).cpu().contiguous()
    host.data<float>().ToArray()

let toScalar (t: torch.Tensor) : float =
    use host = t.detach().to_type(torch.float64).cpu()
    host.item<float>()

let rows (m: float[,]) = Array2D.length1 m
let columns (m: float[,]) = Array2D.length2 m
let row (m: float[,]) (i: int) = Array.init (columns m) (fun j -> m[i, j])

/// Addition of c(x_i) = shift[i] to every score of row i.
let shiftRows (m: float[,]) (shift: float[]) = Array2D.init (rows m) (columns m) (fun i j -> m[i, j] + shift[i])

/// Unit round-off of a floating dtype, for tolerances that follow from the arithmetic's precision.
let epsilon (dtype: torch.ScalarType) =
    if dtype = torch.float64 then 2.220446049250313e-16
    elif dtype = torch.float32 then 1.1920928955078125e-07
    else invalidArg (nameof dtype) "float32 or float64"
