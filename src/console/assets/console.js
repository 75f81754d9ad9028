// audience-sync console: draws the charts whose data the server embedded as JSON blocks
// (<script type="application/json">, never executed), with the Chart.js build served by the same
// server. No inline script or style anywhere: the Content-Security-Policy allows 'self' only.
// The outcome is recorded on <html data-charts> for tests and for anyone debugging.
(() => {
  const root = document.documentElement;
  const read = (id) => {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  };
  const show = (id) => {
    const box = document.getElementById(id);
    if (!box) return null;
    box.hidden = false;
    return box.querySelector('canvas');
  };
  // Distinct at a glance and readable on white (WCAG non-text contrast).
  const PALETTE = ['#0b5cd5', '#8a4b00', '#6f42c1', '#b4232a', '#0a6e74', '#5a5f66'];
  const draw = () => {
    const sizes = read('sizes-data');
    const match = read('match-data');
    if (!sizes && !match) return 'none';
    if (typeof Chart === 'undefined') throw new Error('Chart.js did not load');
    Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", sans-serif';
    Chart.defaults.color = '#3d444d';
    Chart.defaults.animation = false;
    const common = {
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
    };
    const sizesCanvas = sizes && show('sizes-chart');
    if (sizesCanvas) {
      new Chart(sizesCanvas, {
        type: 'line',
        data: {
          labels: sizes.labels,
          datasets: [
            { label: 'treatment', data: sizes.treatment, borderColor: '#0b5cd5', backgroundColor: '#0b5cd5' },
            { label: 'holdout', data: sizes.holdout, borderColor: '#8a4b00', backgroundColor: '#8a4b00' },
          ],
        },
        options: {
          ...common,
          scales: { y: { beginAtZero: true, title: { display: true, text: 'people' } } },
        },
      });
    }
    const matchCanvas = match && show('match-chart');
    if (matchCanvas) {
      new Chart(matchCanvas, {
        type: 'line',
        data: {
          labels: match.labels,
          datasets: [
            ...(match.rate.some((x) => x !== null)
              ? [
                  {
                    label: 'platform match rate (%)',
                    data: match.rate,
                    borderColor: '#1a7f37',
                    backgroundColor: '#1a7f37',
                    borderWidth: 3,
                  },
                ]
              : []),
            ...Object.entries(match.types).map(([type, data], i) => ({
              label: `with ${type} (%)`,
              data,
              borderColor: PALETTE[i % PALETTE.length],
              backgroundColor: PALETTE[i % PALETTE.length],
              borderDash: [6, 3],
            })),
          ],
        },
        options: {
          ...common,
          scales: { y: { beginAtZero: true, suggestedMax: 100, title: { display: true, text: 'percent' } } },
        },
      });
    }
    for (const details of document.querySelectorAll('details.chart-numbers')) details.open = false;
    return 'drawn';
  };
  const run = () => {
    try {
      root.dataset.charts = draw();
    } catch (error) {
      for (const box of document.querySelectorAll('.chart')) box.hidden = true;
      root.dataset.charts = 'failed';
      console.error('console charts could not be drawn:', error);
    }
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', run);
  else run();
})();
