"""Readers and statistics for real instrument files.

Modules (each imported on demand, nothing heavy here):

- :mod:`autoscope.io.sxm`            Nanonis ``.sxm`` images: :func:`~autoscope.io.sxm.read_sxm`,
  :func:`~autoscope.io.sxm.write_sxm`
- :mod:`autoscope.io.dat`            Nanonis spectroscopy ``.dat`` files:
  :func:`~autoscope.io.dat.read_dat`, :func:`~autoscope.io.dat.write_dat`
- :mod:`autoscope.io.grid3ds`        Nanonis ``.3ds`` grid spectroscopy:
  :func:`~autoscope.io.grid3ds.read_3ds`, :func:`~autoscope.io.grid3ds.write_3ds`,
  :func:`~autoscope.io.grid3ds.grid3ds_to_recorded` (missing points stay NaN)
- :mod:`autoscope.io.importer`       vendor files into the catalog as runs (``autoscope import``)
- :mod:`autoscope.io.exporter`       catalog runs as a recorded dataset (``autoscope export``)
- :mod:`autoscope.io.rawimage`       the shape-prefixed float64 images that SPIEPy ships
- :mod:`autoscope.io.units`          conversion of SI file units to autoscope's (nm, pA)
- :mod:`autoscope.io.stats`          image statistics a microscopist looks at
- :mod:`autoscope.io.spectrum_stats` spectrum statistics (noise, dI/dV peaks, asymmetry)
- :mod:`autoscope.io.recorded`       the recorded-dataset HDF5 file of DESIGN.md (read, write,
  validate: :class:`~autoscope.io.recorded.RecordedDataset`)
- :mod:`autoscope.io.pfm`            piezoresponse from amplitude, phase and the phase reference
- :mod:`autoscope.io.realdata`       finds real instrument files shipped inside PyPI packages
- :mod:`autoscope.io.xarray_view`    catalog runs as xarray Datasets with nm and spectral
  coordinates: :func:`~autoscope.io.xarray_view.to_xarray` (also ``autoscope.io.to_xarray``)
"""

from autoscope._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {"to_xarray": "autoscope.io.xarray_view"})
