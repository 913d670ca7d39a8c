module Decomp.Notebooks.Tests.CliTests

open System
open System.Text.RegularExpressions
open Expecto
open Decomp.Notebooks.Runner

let private result name passed : NotebookResult =
    { Path = $"/x/{name}"
      CellsRun = 2
      CodeCells = 2
      Failure = if passed then None else Some(2, "System.Exception: <boom> & \"more\"")
      Checks = [ "a", true ]
      Problem = None
      Elapsed = TimeSpan.FromSeconds 1.5 }

[<Tests>]
let tests =
    testList "Cli" [
        test "the JUnit summary has one test case per notebook and one failure per failed notebook" {
            let xml = Program.junitSummary [ result "a.ipynb" true; result "b.ipynb" false; result "c.ipynb" true ]
            // build.sh counts test cases and failures this way.
            Expect.equal (Regex.Matches(xml, "<testcase ").Count) 3 "three test cases"
            Expect.equal (Regex.Matches(xml, "<(failure|error)[ >]").Count) 1 "one failure"
            Expect.stringContains xml "name=\"b.ipynb\"" "named after the notebook"
            Expect.stringContains xml "&lt;boom&gt; &amp;" "the failure's message is escaped"
        }
    ]
