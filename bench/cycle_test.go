package bench

import (
	"context"
	"testing"

	"github.com/iai-mcp/lifecycle"
	"github.com/looplab/fsm"
	"github.com/qmuntal/stateless"
)

// The cycle every implementation runs, one transition per op: event i moves
// cycleStates[i] to cycleStates[i+1].
var (
	cycleStates = [4]lifecycle.State{lifecycle.Wake, lifecycle.Drowsy, lifecycle.Sleep, lifecycle.Hibernation}
	cycleEvents = [4]lifecycle.Event{lifecycle.Idle5Min, lifecycle.Idle30Min, lifecycle.SleepCycleDone, lifecycle.WakeSignal}
	// The guards the cycle's two guarded rows read, both holding.
	cycleGuards = lifecycle.Guards{SleepEligible: true, StillIdle: true}
)

// driver runs one implementation: fire applies cycle event i%4; state
// reads the current state (not part of a benchmark's op).
type driver struct {
	fire  func(i int) error
	state func() lifecycle.State
}

// The peers are given only the four rows of the cycle and no guards, the
// cheapest configuration either supports; ComputeTransition looks its row up
// in the full table and evaluates the guards. Their ratio is therefore a
// lower bound.

func computeTransitionDriver() driver {
	s := lifecycle.Wake
	return driver{
		fire: func(i int) error {
			s, _ = lifecycle.ComputeTransition(s, cycleEvents[i&3], cycleGuards)
			return nil
		},
		state: func() lifecycle.State { return s },
	}
}

func looplabDriver() driver {
	var events fsm.Events
	for i, ev := range cycleEvents {
		events = append(events, fsm.EventDesc{
			Name: string(ev),
			Src:  []string{string(cycleStates[i])},
			Dst:  string(cycleStates[(i+1)&3]),
		})
	}
	f := fsm.NewFSM(string(lifecycle.Wake), events, nil)
	ctx := context.Background()
	return driver{
		fire:  func(i int) error { return f.Event(ctx, string(cycleEvents[i&3])) },
		state: func() lifecycle.State { return lifecycle.State(f.Current()) },
	}
}

// statelessDriver uses the package's default, queued firing mode: on this
// cycle it measured faster than FiringImmediate.
func statelessDriver() driver {
	sm := stateless.NewStateMachine(lifecycle.Wake)
	var triggers [4]any // boxed once, so Fire is not charged for the conversion
	for i, ev := range cycleEvents {
		sm.Configure(cycleStates[i]).Permit(ev, cycleStates[(i+1)&3])
		triggers[i] = ev
	}
	return driver{
		fire:  func(i int) error { return sm.Fire(triggers[i&3]) },
		state: func() lifecycle.State { return sm.MustState().(lifecycle.State) },
	}
}

var cycleImpls = []struct {
	name string
	new  func() driver
}{
	{"ComputeTransition", computeTransitionDriver},
	{"looplab-fsm", looplabDriver},
	{"stateless", statelessDriver},
}

// BenchmarkCycle runs WAKE→DROWSY→SLEEP→HIBERNATION→WAKE, one transition
// per op, in the library and in each peer.
func BenchmarkCycle(b *testing.B) {
	b.Run("ComputeTransition", func(b *testing.B) {
		// Inlined rather than through a driver, so that the op is the call
		// itself and not a closure around it.
		s := lifecycle.Wake
		b.ReportAllocs()
		i := 0
		for ; b.Loop(); i++ {
			s, _ = lifecycle.ComputeTransition(s, cycleEvents[i&3], cycleGuards)
		}
		if s != cycleStates[i&3] {
			b.Fatalf("after %d transitions: %s, want %s", i, s, cycleStates[i&3])
		}
	})
	for _, impl := range cycleImpls[1:] {
		b.Run(impl.name, func(b *testing.B) {
			d := impl.new()
			b.ReportAllocs()
			i := 0
			for ; b.Loop(); i++ {
				if err := d.fire(i); err != nil {
					b.Fatal(err)
				}
			}
			if s := d.state(); s != cycleStates[i&3] {
				b.Fatalf("after %d transitions: %s, want %s", i, s, cycleStates[i&3])
			}
		})
	}
}

// TestCycle checks that every implementation runs the same cycle.
func TestCycle(t *testing.T) {
	for _, impl := range cycleImpls {
		d := impl.new()
		for i := range 8 {
			if err := d.fire(i); err != nil {
				t.Fatalf("%s: step %d: %v", impl.name, i, err)
			}
			if s, want := d.state(), cycleStates[(i+1)&3]; s != want {
				t.Fatalf("%s: step %d: %s, want %s", impl.name, i, s, want)
			}
		}
	}
}

func TestComputeTransitionDoesNotAllocate(t *testing.T) {
	d := computeTransitionDriver()
	i := 0
	if n := testing.AllocsPerRun(1000, func() { d.fire(i); i++ }); n != 0 {
		t.Errorf("%v allocations per ComputeTransition", n)
	}
}
