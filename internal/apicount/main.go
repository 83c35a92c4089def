// Command apicount counts a Go package's exported API: its exported
// top-level names (each func, type, var and const) and the exported methods
// of its exported types (interface methods included), as the build for this
// system selects its files, test files left out. Struct fields are not
// counted. With -v it lists them.
//
//	go run ./internal/apicount [-v] [dir]
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

func main() {
	verbose := flag.Bool("v", false, "list the identifiers, one a line")
	flag.Parse()
	dir := "."
	if flag.NArg() > 0 {
		dir = flag.Arg(0)
	}
	names, err := exported(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apicount:", err)
		os.Exit(1)
	}
	if *verbose {
		for _, n := range names {
			fmt.Println(n)
		}
	}
	fmt.Println(len(names))
}

// exported lists the exported API of the package in dir, sorted: "func F",
// "type T", "var V", "const C" and "method T.M".
func exported(dir string) ([]string, error) {
	bp, err := build.ImportDir(dir, 0)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var names []string
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			names = append(names, declNames(d)...)
		}
	}
	if len(names) == 0 && len(bp.GoFiles) == 0 {
		return nil, &fs.PathError{Op: "apicount", Path: dir, Err: fs.ErrNotExist}
	}
	slices.Sort(names)
	return names, nil
}

func declNames(d ast.Decl) []string {
	var names []string
	switch d := d.(type) {
	case *ast.FuncDecl:
		switch {
		case !d.Name.IsExported():
		case d.Recv == nil:
			names = append(names, "func "+d.Name.Name)
		default:
			if recv := recvName(d.Recv.List[0].Type); ast.IsExported(recv) {
				names = append(names, "method "+recv+"."+d.Name.Name)
			}
		}
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				if !s.Name.IsExported() {
					continue
				}
				names = append(names, "type "+s.Name.Name)
				if it, ok := s.Type.(*ast.InterfaceType); ok {
					for _, m := range it.Methods.List {
						for _, n := range m.Names {
							if n.IsExported() {
								names = append(names, "method "+s.Name.Name+"."+n.Name)
							}
						}
					}
				}
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.IsExported() {
						names = append(names, d.Tok.String()+" "+n.Name)
					}
				}
			}
		}
	}
	return names
}

// recvName is the name of a method's receiver type: T in T, *T, T[P], *T[P, Q].
func recvName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}
