namespace Decomp.Notebooks

open System
open System.Reflection
open System.Runtime.ExceptionServices

/// The .NET Interactive kernel (VS Code's Polyglot Notebooks), when this code runs inside one.
///
/// The kernel's assemblies are not on NuGet here and must not be a dependency of the library anyway, so the kernel is
/// found by name among the loaded assemblies and called through reflection. The two members used,
/// `Kernel.HTML(string) : IHtmlContent` and `Kernel.display(object, params string[])`, have kept these signatures across
/// .NET Interactive releases.
module Kernel =

    /// The assembly that defines `Microsoft.DotNet.Interactive.Kernel`.
    [<Literal>]
    let AssemblyName = "Microsoft.DotNet.Interactive"

    type private Methods = { Html: MethodInfo; Display: MethodInfo }

    let private find () =
        AppDomain.CurrentDomain.GetAssemblies()
        |> Array.tryFind (fun a -> a.GetName().Name = AssemblyName)
        |> Option.bind (fun a -> Option.ofObj (a.GetType(AssemblyName + ".Kernel")))
        |> Option.bind (fun kernel ->
            let html = kernel.GetMethod("HTML", BindingFlags.Public ||| BindingFlags.Static, [| typeof<string> |])
            let display =
                kernel.GetMethod("display", BindingFlags.Public ||| BindingFlags.Static, [| typeof<obj>; typeof<string[]> |])
            match html, display with
            | null, _
            | _, null -> None
            | html, display -> Some { Html = html; Display = display })

    /// True when a .NET Interactive kernel is loaded in this process.
    let isPresent () : bool = (find ()).IsSome

    /// Shows `html` as the output of the running cell through the kernel's own display; false when there is no kernel.
    let tryDisplayHtml (html: string) : bool =
        match find () with
        | None -> false
        | Some methods ->
            try
                let content = methods.Html.Invoke(null, [| box html |])
                methods.Display.Invoke(null, [| content; box [| "text/html" |] |]) |> ignore
                true
            with :? TargetInvocationException as e when not (isNull e.InnerException) ->
                // The kernel's own error says what went wrong; the reflection wrapper says nothing.
                ExceptionDispatchInfo.Capture(e.InnerException).Throw()
                false
