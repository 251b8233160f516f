package sandbox

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/gorilla/mux"
)

// The desk is a small helpdesk for people and for browser tests: plain
// HTML, CSS and JavaScript embedded in the binary, nothing loaded from
// elsewhere. It polls /sandbox/state every second and acts through the
// /sandbox/tickets/{id}/… endpoints.
//
//go:embed desk
var deskFS embed.FS

func (s *Sandbox) registerDesk(r *mux.Router) {
	files, _ := fs.Sub(deskFS, "desk")
	index := func(w http.ResponseWriter, _ *http.Request) {
		b, err := fs.ReadFile(files, "index.html")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
	}
	r.HandleFunc("/", index).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/desk", index).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix("/desk/").Handler(http.StripPrefix("/desk/", http.FileServerFS(files))).Methods(http.MethodGet, http.MethodHead)
}
