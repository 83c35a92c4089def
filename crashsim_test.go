package lifecycle_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/stretchr/testify/require"
)

// The crash simulator. A recorder in the library's file-system seam does
// every operation for real and keeps, beside it, a model of what a power
// loss may keep of it: a file's data as of its last fsync plus the writes
// since, and a directory's entries as of its last fsync plus the entry
// changes (create, mkdir, rename, remove) since. A crash state is the model
// at one point of a workload with any subset of each directory's unsynced
// entry changes kept, and each file's unsynced writes kept up to some point,
// the last of them possibly torn. Synced data and synced entries always
// survive; the root (the test's directory) is durable.
//
// A failed fsync (an injected EIO or ENOSPC) is modelled as Linux behaves:
// the writes it should have made durable are dropped from the page cache's
// dirty list, so a later fsync of the file reports success without them, and
// after a power loss their bytes read as NULs whatever was written over them
// in place since. Only bytes written to new blocks (a new file, or past a
// truncation) are safe again.

// simNode is a file or a directory of the model. Its byte slices are never
// changed in place, so a snapshot may share them.
type simNode struct {
	dir bool
	// A file's content now, as of its last fsync, and the writes since.
	data, durable []byte
	writes        []simWrite
	// Byte ranges whose fsync failed: NULs after a power loss.
	doomed []simSpan
	// A directory's entries now, as of its last fsync, and the changes since.
	entries, durableEntries map[string]int
	changes                 []entryChange
}

type simSpan struct{ off, n int64 }

type simWrite struct {
	off      int64
	data     []byte
	truncate bool // a truncation to off instead of a write
}

type changeKind int

const (
	addEntry changeKind = iota // create or mkdir
	moveEntry
	removeEntry
)

type entryChange struct {
	kind          changeKind
	name, newName string
	node          int
}

// simModel is the whole tree; node 0 is the root.
type simModel struct{ nodes []*simNode }

func (m *simModel) clone() *simModel {
	c := &simModel{nodes: make([]*simNode, len(m.nodes))}
	for i, n := range m.nodes {
		cp := *n
		cp.writes = slices.Clone(n.writes)
		cp.doomed = slices.Clone(n.doomed)
		cp.changes = slices.Clone(n.changes)
		if n.dir {
			cp.entries = cloneEntries(n.entries)
			cp.durableEntries = cloneEntries(n.durableEntries)
		}
		c.nodes[i] = &cp
	}
	return c
}

func cloneEntries(e map[string]int) map[string]int {
	c := make(map[string]int, len(e))
	for k, v := range e {
		c[k] = v
	}
	return c
}

func (m *simModel) add(n *simNode) int {
	m.nodes = append(m.nodes, n)
	return len(m.nodes) - 1
}

func applyWrite(data []byte, w simWrite) []byte {
	if w.truncate {
		if int64(len(data)) >= w.off {
			return slices.Clone(data[:w.off])
		}
		return append(slices.Clone(data), make([]byte, w.off-int64(len(data)))...)
	}
	end := w.off + int64(len(w.data))
	out := slices.Clone(data)
	if int64(len(out)) < end {
		out = append(out, make([]byte, end-int64(len(out)))...)
	}
	copy(out[w.off:], w.data)
	return out
}

// zeroDoomed is data with the doomed ranges NULs; data is not changed.
func zeroDoomed(data []byte, doomed []simSpan) []byte {
	if len(doomed) == 0 {
		return data
	}
	out := slices.Clone(data)
	for _, d := range doomed {
		for i := d.off; i < d.off+d.n && i < int64(len(out)); i++ {
			out[i] = 0
		}
	}
	return out
}

func applyChange(entries map[string]int, c entryChange) {
	switch c.kind {
	case addEntry:
		entries[c.name] = c.node
	case moveEntry:
		if entries[c.name] == c.node {
			delete(entries, c.name)
		}
		entries[c.newName] = c.node
	case removeEntry:
		delete(entries, c.name)
	}
}

// recorder is the seam's implementation during a recorded workload.
type recorder struct {
	lifecycle.OSFS
	root string

	mu    sync.Mutex
	model *simModel
	files map[*os.File]int // open files and their nodes
	snaps []*simModel      // snaps[i]: the model after i operations
	what  []string         // what[i]: operation i, for messages
	// diverged says where the model and the disk differ: a change made
	// outside the seam, which the model cannot know of.
	diverged []string
}

// newRecorder models the tree under root as it is now, all of it durable.
func newRecorder(t *testing.T, root string) *recorder {
	r := &recorder{root: root, model: &simModel{}, files: map[*os.File]int{}}
	var walk func(path string) int
	walk = func(path string) int {
		fi, err := os.Lstat(path)
		require.NoError(t, err)
		if !fi.IsDir() {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			return r.model.add(&simNode{data: data, durable: data})
		}
		n := &simNode{dir: true, entries: map[string]int{}}
		id := r.model.add(n)
		ents, err := os.ReadDir(path)
		require.NoError(t, err)
		for _, e := range ents {
			n.entries[e.Name()] = walk(filepath.Join(path, e.Name()))
		}
		n.durableEntries = cloneEntries(n.entries)
		return id
	}
	walk(root)
	r.snaps = []*simModel{r.model.clone()}
	return r
}

// ops is how many operations have been recorded.
func (r *recorder) ops() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.snaps) - 1
}

func (r *recorder) done(what string) {
	r.snaps = append(r.snaps, r.model.clone())
	r.what = append(r.what, what)
}

// rel is path relative to the root, for messages.
func (r *recorder) rel(path string) string {
	if rel, err := filepath.Rel(r.root, path); err == nil {
		return rel
	}
	return path
}

// lookup returns the node of dir's entry name and dir's node, or -1s for a
// path outside the model.
func (r *recorder) lookup(path string) (parent int, name string, node int) {
	rel, err := filepath.Rel(r.root, path)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return -1, "", -1
	}
	parts := strings.Split(rel, string(filepath.Separator))
	cur := 0
	for _, p := range parts[:len(parts)-1] {
		n := r.model.nodes[cur]
		next, ok := n.entries[p]
		if !ok || !n.dir {
			return -1, "", -1
		}
		cur = next
	}
	name = parts[len(parts)-1]
	if !r.model.nodes[cur].dir {
		return -1, "", -1
	}
	if id, ok := r.model.nodes[cur].entries[name]; ok {
		return cur, name, id
	}
	return cur, name, -1
}

func (r *recorder) change(dir int, c entryChange) {
	n := r.model.nodes[dir]
	n.changes = append(n.changes, c)
	applyChange(n.entries, c)
}

func (r *recorder) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := r.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return f, err
	}
	parent, base, node := r.lookup(name)
	if parent < 0 {
		return f, nil
	}
	if node < 0 {
		node = r.model.add(&simNode{})
		r.change(parent, entryChange{kind: addEntry, name: base, node: node})
		r.done("create " + r.rel(name))
	}
	r.files[f] = node
	return f, nil
}

func (r *recorder) write(f *os.File, w simWrite) {
	node, ok := r.files[f]
	if !ok {
		return
	}
	n := r.model.nodes[node]
	n.writes = append(n.writes, w)
	n.data = applyWrite(n.data, w)
	if w.truncate {
		// Blocks past the new end are freed; what is written there later
		// goes to new ones.
		var kept []simSpan
		for _, d := range n.doomed {
			if d.off < w.off {
				kept = append(kept, simSpan{d.off, min(d.n, w.off-d.off)})
			}
		}
		n.doomed = kept
	}
	what := "write "
	if w.truncate {
		what = "truncate "
	}
	r.done(what + r.rel(f.Name()))
}

func (r *recorder) Write(f *os.File, p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	n, err := r.OSFS.Write(f, p)
	if n > 0 {
		if off2, serr := f.Seek(0, io.SeekCurrent); serr == nil {
			off = off2 - int64(n) // O_APPEND writes at the end, wherever the offset was
		}
		r.write(f, simWrite{off: off, data: slices.Clone(p[:n])})
	}
	return n, err
}

func (r *recorder) WriteAt(f *os.File, p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.OSFS.WriteAt(f, p, off)
	if n > 0 {
		r.write(f, simWrite{off: off, data: slices.Clone(p[:n])})
	}
	return n, err
}

func (r *recorder) Truncate(f *os.File, size int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.OSFS.Truncate(f, size); err != nil {
		return err
	}
	r.write(f, simWrite{off: size, truncate: true})
	return nil
}

func (r *recorder) Sync(f *os.File) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.OSFS.Sync(f); err != nil {
		return err
	}
	if node, ok := r.files[f]; ok {
		n := r.model.nodes[node]
		n.durable, n.writes = zeroDoomed(n.data, n.doomed), nil
		r.done("fsync " + r.rel(f.Name()))
	}
	return nil
}

// syncFailed records that an fsync of f failed: its unsynced writes will
// never reach the disk, and no later fsync brings them back.
func (r *recorder) syncFailed(f *os.File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	node, ok := r.files[f]
	if !ok {
		return
	}
	n := r.model.nodes[node]
	for _, w := range n.writes {
		if !w.truncate {
			n.doomed = append(n.doomed, simSpan{w.off, int64(len(w.data))})
		}
	}
	n.durable, n.writes = zeroDoomed(n.data, n.doomed), nil
	r.done("failed fsync " + r.rel(f.Name()))
}

func (r *recorder) SyncDir(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.OSFS.SyncDir(dir); err != nil {
		return err
	}
	node := 0
	if filepath.Clean(dir) != filepath.Clean(r.root) {
		_, _, node = r.lookup(dir)
	}
	if node >= 0 {
		n := r.model.nodes[node]
		r.checkEntries(dir, n)
		n.durableEntries, n.changes = cloneEntries(n.entries), nil
		r.done("fsync dir " + r.rel(dir))
	}
	return nil
}

// checkEntries compares the names the model has in dir with the disk's.
func (r *recorder) checkEntries(dir string, n *simNode) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		r.diverged = append(r.diverged, err.Error())
		return
	}
	var disk, model []string
	for _, e := range ents {
		disk = append(disk, e.Name())
	}
	for name := range n.entries {
		model = append(model, name)
	}
	slices.Sort(model)
	if !slices.Equal(disk, model) {
		r.diverged = append(r.diverged, fmt.Sprintf("%s holds %q, the model %q", r.rel(dir), disk, model))
	}
}

func (r *recorder) Rename(oldpath, newpath string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.OSFS.Rename(oldpath, newpath); err != nil {
		return err
	}
	op, oname, node := r.lookup(oldpath)
	np, nname, _ := r.lookup(newpath)
	if node < 0 || np < 0 {
		return nil
	}
	if op == np {
		r.change(op, entryChange{kind: moveEntry, name: oname, newName: nname, node: node})
	} else {
		r.change(op, entryChange{kind: removeEntry, name: oname, node: node})
		r.change(np, entryChange{kind: addEntry, name: nname, node: node})
	}
	r.done("rename " + r.rel(oldpath) + " " + r.rel(newpath))
	return nil
}

// Link adds a second entry for oldname's node: one file under two names,
// whose data is the node's whichever name it is written through. The new
// entry is a change of its directory like a create, durable only once the
// directory is synced.
func (r *recorder) Link(oldname, newname string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.OSFS.Link(oldname, newname); err != nil {
		return err
	}
	_, _, node := r.lookup(oldname)
	np, nname, _ := r.lookup(newname)
	if node < 0 || np < 0 {
		return nil
	}
	r.change(np, entryChange{kind: addEntry, name: nname, node: node})
	r.done("link " + r.rel(oldname) + " " + r.rel(newname))
	return nil
}

func (r *recorder) Mkdir(name string, perm fs.FileMode) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.OSFS.Mkdir(name, perm); err != nil {
		return err
	}
	if parent, base, _ := r.lookup(name); parent >= 0 {
		n := &simNode{dir: true, entries: map[string]int{}, durableEntries: map[string]int{}}
		r.change(parent, entryChange{kind: addEntry, name: base, node: r.model.add(n)})
		r.done("mkdir " + r.rel(name))
	}
	return nil
}

func (r *recorder) Remove(name string) error {
	return r.remove(name, r.OSFS.Remove)
}

func (r *recorder) Unlink(name string) error {
	return r.remove(name, r.OSFS.Unlink)
}

func (r *recorder) remove(name string, rm func(string) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	parent, base, node := r.lookup(name)
	if err := rm(name); err != nil {
		return err
	}
	if node >= 0 {
		r.change(parent, entryChange{kind: removeEntry, name: base, node: node})
		r.done("remove " + r.rel(name))
	}
	return nil
}

// changedSince describes the operations since the first start that changed
// the tree as a reader sees it, or is "" when nothing did: a temporary file
// made and removed again changes nothing, and neither does a rotation,
// which moves log lines from a plain file into its .gz.
func (r *recorder) changedSince(start int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if maps.Equal(readerView(r.snaps[start]), readerView(r.model)) {
		return ""
	}
	return strings.Join(r.what[start:], ", ")
}

// readerView is what m holds for a reader: each file's content by path,
// except log files, whose lines are one set per directory, and each
// directory whose entry is not durable (a durable directory is what New
// makes, and changes nothing a reader sees).
func readerView(m *simModel) map[string]string {
	view := map[string]string{}
	var walk func(id int, path string, durable bool)
	walk = func(id int, path string, durable bool) {
		n := m.nodes[id]
		if n.dir {
			if !durable {
				view[path+"/"] = ""
			}
			for name, child := range n.entries {
				walk(child, path+"/"+name, n.durableEntries[name] == child)
			}
			return
		}
		dir, name := filepath.Split(path)
		if !strings.HasPrefix(name, "lifecycle-events-") {
			view[path] = string(n.data)
			return
		}
		data := n.data
		switch {
		case strings.HasSuffix(name, ".jsonl"):
		case strings.HasSuffix(name, ".jsonl.gz"):
			zr, err := gzip.NewReader(bytes.NewReader(data))
			if err == nil {
				data, err = io.ReadAll(zr)
			}
			if err != nil {
				view[path] = "corrupt gzip"
				return
			}
		default:
			return // a rotation's temporary file
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(line) > 0 {
				view[dir+"\x00"+string(line)] = ""
			}
		}
	}
	walk(0, "", true)
	return view
}

// crashChoice is one crash state of a snapshot: for each directory with
// unsynced changes, which of them survive (a bit mask, in order); for each
// file with unsynced writes, how many survive whole and whether the next is
// torn in half.
type crashChoice struct {
	kept  map[int]uint64
	whole map[int]int
	torn  map[int]bool
}

// crashChoices lists up to limit crash states of m: every combination when
// there are at most limit, else the two extremes (all lost, all kept) and a
// random sample drawn with rng.
func crashChoices(m *simModel, limit int, rng *rand.Rand) []crashChoice {
	type axis struct {
		node    int
		dir     bool
		options uint64
	}
	var axes []axis
	total := uint64(1)
	for id, n := range m.nodes {
		switch {
		case n.dir && len(n.changes) > 0:
			if len(n.changes) > 63 {
				panic("crash simulator: more than 63 unsynced changes in one directory")
			}
			axes = append(axes, axis{id, true, 1 << len(n.changes)})
		case !n.dir && len(n.writes) > 0:
			axes = append(axes, axis{id, false, uint64(2*len(n.writes) + 1)})
		default:
			continue
		}
		if o := axes[len(axes)-1].options; total > 1<<40/o {
			total = 1 << 40
		} else {
			total *= o
		}
	}
	choice := func(pick func(a axis) uint64) crashChoice {
		c := crashChoice{kept: map[int]uint64{}, whole: map[int]int{}, torn: map[int]bool{}}
		for _, a := range axes {
			v := pick(a)
			if a.dir {
				c.kept[a.node] = v
				continue
			}
			// 0, 2, 4, ...: that many writes whole; odd: the next one torn.
			c.whole[a.node], c.torn[a.node] = int(v/2), v%2 == 1
		}
		return c
	}
	var out []crashChoice
	if total <= uint64(limit) {
		for i := range total {
			rest := i
			out = append(out, choice(func(a axis) uint64 {
				v := rest % a.options
				rest /= a.options
				return v
			}))
		}
		return out
	}
	out = append(out, choice(func(axis) uint64 { return 0 }), choice(func(a axis) uint64 { return a.options - 1 }))
	for len(out) < limit {
		out = append(out, choice(func(a axis) uint64 { return rng.Uint64N(a.options) }))
	}
	return out
}

// materialize writes the crash state c of m into dst, which must not exist.
// A file node under several names (a hard link) is one file with those
// names, as on a disk.
func materialize(t *testing.T, m *simModel, c crashChoice, dst string) {
	written := map[int]string{} // file nodes written, and where
	var write func(node int, path string)
	write = func(id int, path string) {
		n := m.nodes[id]
		if !n.dir {
			if first, ok := written[id]; ok {
				require.NoError(t, os.Link(first, path))
				return
			}
			written[id] = path
			data := n.durable
			for i := range c.whole[id] {
				data = applyWrite(data, n.writes[i])
			}
			if w := c.whole[id]; c.torn[id] && w < len(n.writes) {
				torn := n.writes[w]
				if !torn.truncate {
					torn.data = torn.data[:len(torn.data)/2]
				}
				data = applyWrite(data, torn)
			}
			data = zeroDoomed(data, n.doomed)
			require.NoError(t, os.WriteFile(path, data, 0o600))
			return
		}
		require.NoError(t, os.Mkdir(path, 0o700))
		entries := cloneEntries(n.durableEntries)
		for i, ch := range n.changes {
			if c.kept[id]&(1<<i) != 0 {
				applyChange(entries, ch)
			}
		}
		for name, child := range entries {
			write(child, filepath.Join(path, name))
		}
	}
	write(0, dst)
}

// simTempDir is a fresh directory for crash states: on tmpfs when there is
// one, where the many fsyncs of recovery cost nothing.
func simTempDir(t *testing.T) string {
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "lifecycle-crashsim-")
	if err != nil && base != "" {
		dir, err = os.MkdirTemp("", "lifecycle-crashsim-")
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, os.RemoveAll(dir)) })
	return dir
}
