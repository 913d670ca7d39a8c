module Decomp.Core.Tests.Platform

open System
open Expecto
open TorchSharp
open Decomp.Core

[<Tests>]
let tests =
    testList "Platform" [
        test "TorchSharp loads and computes a gradient on the chosen device" {
            let device = Device.current ()
            use x = torch.tensor ([| 1.0; 2.0; 3.0 |], device = device, requires_grad = true)
            use y = (x * x).sum ()
            y.backward ()
            let grad = x.grad.cpu().data<float>().ToArray()
            Expect.sequenceEqual grad [| 2.0; 4.0; 6.0 |] "d/dx sum(x^2) = 2x"
        }
    ]
