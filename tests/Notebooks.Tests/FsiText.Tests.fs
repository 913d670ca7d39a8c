module Decomp.Notebooks.Tests.FsiTextTests

open Expecto
open Decomp.Notebooks.Runner

// Shapes of text fsi writes to stderr (dotnet fsi 10, --quiet, reading stdin).
let private warning =
    "\n  let s = System.IO.MemoryStream()\n  --------^^^^^^^^^^^^^^^^^^^^^^^^^^\n\n"
    + "/work/nb/stdin(12,9): warning FS0760: It is recommended that objects supporting the IDisposable interface are created using 'new Type(args)'\n\n"

let private compileError =
    "\n  let y = undefinedThing + 1\n  --------^^^^^^^^^^^^^^\n\n/work/nb/stdin(14,9): error FS0039: The value or constructor 'undefinedThing' is not defined.\n\n"

let private exceptionReport =
    "System.InvalidOperationException: boom\n"
    + "   at <StartupCode$FSI_0007>.$FSI_0007.main@() in /work/nb/stdin:line 15\n"
    + "   at System.Reflection.MethodBaseInvoker.InterpretedInvoke_Method(Object obj, IntPtr* args)\n"
    + "   at System.Reflection.MethodBaseInvoker.InvokeWithNoArgs(Object obj, BindingFlags invokeAttr)\n"
    + "Stopped due to error\n"

/// Input lines 10 to 19 are cell 3.
let private locate line = if line >= 10 && line < 20 then Some(3, line - 9) else None

[<Tests>]
let tests =
    testList "FsiText" [
        test "stdin locations become cell locations" {
            let text = FsiText.relocate locate (compileError + exceptionReport)
            Expect.stringContains text "cell [3] (5,9): error FS0039" "diagnostic location"
            Expect.stringContains text "in cell [3]:line 6" "stack frame location"
            Expect.isFalse (text.Contains "stdin") "no stdin locations left"
            Expect.equal (FsiText.relocate locate "/x/stdin(3,1): error FS1: y") "/x/stdin(3,1): error FS1: y" "lines of no cell stay"
        }

        test "compile errors and escaped exceptions are failures; warnings and user text are not" {
            Expect.isTrue (FsiText.reportsFailure compileError) "compile error"
            Expect.isTrue (FsiText.reportsFailure exceptionReport) "exception"
            Expect.isTrue (FsiText.reportsFailure (FsiText.relocate locate compileError)) "compile error, relocated"
            Expect.isFalse (FsiText.reportsFailure warning) "warning"
            Expect.isFalse (FsiText.reportsFailure "an error happened, said the user\n") "user text"
        }

        test "warnings are split off with their excerpt; other text stays" {
            let warnings, rest = FsiText.splitWarnings (warning + "user wrote this\n")
            Expect.equal warnings.Length 1 "one warning"
            Expect.stringContains warnings[0] "MemoryStream()" "with its excerpt"
            Expect.stringContains warnings[0] "warning FS0760" "and its header"
            Expect.equal rest "user wrote this\n" "the user's text stays"
            let warnings, rest = FsiText.splitWarnings compileError
            Expect.isEmpty warnings "errors are not warnings"
            Expect.stringContains rest "error FS0039" "errors stay"
        }

        test "an exception becomes an error output named after its type, without fsi's reflection frames" {
            match FsiText.errorOutput (FsiText.relocate locate exceptionReport) with
            | ErrorOutput(name, value, traceback) ->
                Expect.equal name "System.InvalidOperationException" "name"
                Expect.equal value "boom" "message"
                Expect.equal traceback [ "System.InvalidOperationException: boom"; "   at <StartupCode$FSI_0007>.$FSI_0007.main@() in cell [3]:line 6" ] "traceback"
            | other -> failtest $"expected an error output, got {other}"
        }

        test "a compile error becomes an error output named after its code, with the excerpt" {
            match FsiText.errorOutput (FsiText.relocate locate compileError) with
            | ErrorOutput(name, value, traceback) ->
                Expect.equal name "error FS0039" "name"
                Expect.equal value "The value or constructor 'undefinedThing' is not defined." "message"
                Expect.contains traceback "  let y = undefinedThing + 1" "excerpt"
            | other -> failtest $"expected an error output, got {other}"
        }
    ]
