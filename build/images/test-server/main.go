// Command test-server answers every HTTP request with the name of the pod (or host) it runs in,
// so that a test can see which endpoint of a Service answered and that cluster DNS resolves it.
// GET /healthz answers "ok". The listen address is $LISTEN (default :8080).
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

// version is set at build time (-ldflags -X main.version=...).
var version = "unset"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Printf("test-server (orchestrator.platform) %s\n", version)
		return
	}
	name := os.Getenv("POD_NAME")
	if name == "" {
		var err error
		if name, err = os.Hostname(); err != nil {
			log.Fatalf("test-server: hostname: %v", err)
		}
	}
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = ":8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s\n", name)
		log.Printf("%s %s %s", r.RemoteAddr, r.Method, r.URL.Path)
	})
	log.Printf("test-server %s (%s) listening on %s", version, name, addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
