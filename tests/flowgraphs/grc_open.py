"""Start GNU Radio Companion on flowgraphs, report what a user would see, and quit.

    xvfb-run -a python3 tests/flowgraphs/grc_open.py [--seconds S] a.grc [b.grc ...]

Runs GRC's own entry point (``gnuradio.grc.main``, what ``gnuradio-companion`` runs) with the
real GTK application; once the windows are drawn, prints one line per finding and quits:

    MISSING <flowgraph> <block key>          a block GRC does not know (shown as a dummy)
    ERROR <flowgraph> <message>              a validation error (the GUI's red blocks)
    OVERLAP <flowgraph> <block> <block>      two blocks drawn on top of each other
    BLOCK <flowgraph> <id> <x0> <y0> <x1> <y1>   every block's drawn extent (layout checks)
    UNDRAWN <flowgraph> <block>              not drawn yet (open one flowgraph per run)
    CHECKED <flowgraph>

The exit status is GRC's; the caller reads the log.
"""
import sys


def report(app) -> bool:
    for page in app.main_window.get_pages():
        fg = page.flow_graph
        name = page.file_path
        boxes = []
        for block in fg.blocks:
            if block.is_dummy_block:
                print(f"MISSING {name} {block.key}", flush=True)
            if block.key in ("options",) or not block.enabled:
                continue
            try:
                x0, y0, x1, y1 = (int(v) for v in block.get_extents())
            except ValueError:  # not drawn (a page in the background)
                print(f"UNDRAWN {name} {block.name}", flush=True)
                continue
            print(f"BLOCK {name} {block.name} {x0} {y0} {x1} {y1}", flush=True)
            boxes.append((block.name, (x0, y0, x1, y1)))
        for msg in fg.iter_error_messages():
            print(f"ERROR {name} {' '.join(str(m) for m in msg)}", flush=True)
        for i, (a, ba) in enumerate(boxes):
            for b, bb in boxes[i + 1:]:
                if ba[0] < bb[2] and bb[0] < ba[2] and ba[1] < bb[3] and bb[1] < ba[3]:
                    print(f"OVERLAP {name} {a} {b}", flush=True)
        print(f"CHECKED {name}", flush=True)
    app.quit()
    return False


def main(argv) -> None:
    seconds = 3.0
    if len(argv) > 2 and argv[1] == "--seconds":
        seconds = float(argv[2])
        argv = argv[:1] + argv[3:]
    from gnuradio.grc import main as grc_main  # sets up gi (Gtk 3.0) as gnuradio-companion does
    from gnuradio.grc.gui.Platform import Platform  # noqa: F401 - GRC's own import order
    from gnuradio.grc.gui import Application as application
    from gi.repository import GLib

    run = application.Application.run

    def run_and_report(self, *args):
        GLib.timeout_add(int(seconds * 1000), report, self)
        return run(self, *args)

    application.Application.run = run_and_report
    sys.argv = ["gnuradio-companion"] + argv[1:]
    grc_main.main()


if __name__ == "__main__":
    main(sys.argv)
