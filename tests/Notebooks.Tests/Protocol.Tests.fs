module Decomp.Notebooks.Tests.ProtocolTests

open Expecto
open Decomp.Notebooks

let private nonNull (text: string) = if isNull text then "" else text

[<Tests>]
let tests =
    testList "Protocol" [
        testProperty "a message survives encode then decode, on one line" <| fun (kind: int) (a: string) (b: string) (flag: bool) (n: int) ->
            let a, b = nonNull a, nonNull b
            let message =
                match abs (kind % 4) with
                | 0 -> Protocol.Display [ "text/plain", a; "image/png", b ]
                | 1 -> Protocol.Result a
                | 2 -> Protocol.Check(a, flag, b)
                | _ -> Protocol.CellEnd n
            let line = Protocol.encode message
            not (line.Contains '\n') && Protocol.decode line = Ok message

        test "text that is not a message is an error, not an exception" {
            for text in [ ""; "{"; "[]"; """{"type": "nope"}"""; """{"type": "check", "name": "x"}"""; """{"type": 3}""" ] do
                Expect.isError (Protocol.decode text) text
        }

        test "a frame is the prefix, the message and a line break" {
            let frame = Protocol.frame "abc" (Protocol.CellEnd 2)
            Expect.stringStarts frame (Protocol.framePrefix "abc") "prefix first"
            Expect.stringEnds frame "\n" "ends the line"
            Expect.equal (Protocol.decode (frame.Substring((Protocol.framePrefix "abc").Length).TrimEnd '\n')) (Ok(Protocol.CellEnd 2)) "message in between"
        }
    ]
