"""image_display (offscreen Qt): the whole photo, scaled to the window with its aspect ratio."""
import os

import numpy as np
import pytest

from .harness import image_pdu


def test_full_photo_scaled_to_the_window():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    Qt = pytest.importorskip("PyQt5.Qt")
    app = Qt.QApplication.instance() or Qt.QApplication([])
    from gr_semcod.blocks.image_display import image_display

    d = image_display(zoom=8)
    photo = np.zeros((512, 768, 3), np.uint8)
    photo[:, :384] = 255  # left half white: the scaled picture must keep it
    d.handle_image(image_pdu(photo, 5, n_lost_tiles=2))
    app.processEvents()
    assert d._label.source_size() == (768, 512)  # the whole photo, never a crop
    d.widget.resize(400, 400)
    d.widget.show()
    app.processEvents()
    pm = d._label.pixmap()
    lw, lh = d._label.width(), d._label.height()
    assert pm.width() <= lw and pm.height() <= lh and (pm.width() == lw or pm.height() == lh)
    assert abs(pm.width() / pm.height() - 1.5) < 0.02  # aspect ratio kept
    img = pm.toImage()
    assert Qt.QColor(img.pixel(pm.width() // 4, pm.height() // 2)).red() == 255
    assert Qt.QColor(img.pixel(3 * pm.width() // 4, pm.height() // 2)).red() == 0
    assert "image 5 (768x512)" in d._title.text() and "2 tile(s) lost" in d._title.text()
    d.widget.close()
