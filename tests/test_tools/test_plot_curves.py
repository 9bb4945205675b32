"""tools/analysis/plot_curves.py on a small MMEngine-style JSON log."""
import importlib.util
import json
import os.path as osp

import cv2
import pytest

ROOT = osp.join(osp.dirname(__file__), '..', '..')
spec = importlib.util.spec_from_file_location(
    'plot_curves', osp.join(ROOT, 'tools', 'analysis', 'plot_curves.py'))
plot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot)


def _write_log(path):
    """Lines as MMEngine's LocalVisBackend writes them: train lines with
    ``loss``, ``epoch``, ``iter``, ``step``; val lines with metrics."""
    lines = []
    for it in range(1, 7):
        lines.append(
            dict(
                lr=1e-4,
                loss=10.0 / it,
                loss_reg_pose=1.0 / it,
                epoch=1 + (it - 1) // 3,
                iter=it,
                step=it))
        if it % 3 == 0:
            lines.append(
                dict(pa_mpjpe=100.0 - it, mpjpe=150.0 - it, step=it // 3))
    with open(path, 'w') as f:
        f.write('\n'.join(json.dumps(x) for x in lines) + '\n')


def test_plot_curves_png(tmp_path):
    log = str(tmp_path / 'run1' / 'vis_data' / 'scalars.json')
    import os
    os.makedirs(osp.dirname(log))
    _write_log(log)
    series = plot.read_log(log, ['loss', 'pa_mpjpe'])
    assert series['loss'][0] == [1, 2, 3, 4, 5, 6]
    assert series['pa_mpjpe'] == ([1.0, 2.0], [97.0, 94.0])
    out = str(tmp_path / 'curves.png')
    plot.main([
        log, log, '--keys', 'loss', 'pa_mpjpe', 'missing', '--out', out,
        '--legend', 'a', 'b'
    ])
    image = cv2.imread(out)
    # Two found keys -> two stacked subplots, 7 x 5.6 inches at 100 dpi.
    assert image is not None and image.shape == (560, 700, 3)


def test_plot_curves_errors(tmp_path):
    log = str(tmp_path / 'log.json')
    _write_log(log)
    with pytest.raises(KeyError, match='nothing'):
        plot.plot_curves([log], ['nothing'], str(tmp_path / 'x.png'))
    bad = str(tmp_path / 'bad.json')
    with open(bad, 'w') as f:
        f.write('{"loss": 1}\nnot json\n')
    with pytest.raises(ValueError, match='bad.json:2'):
        plot.read_log(bad, ['loss'])
