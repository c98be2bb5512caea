import { describe, expect, it } from 'vitest';
import { renderReport } from '../../worker/stats/report.js';

const empty = { project: 'p', generatedAt: 't', rounds: [], scoreHist: [], drift: [], estimates: [], reviewed: [], quality: [], agreement: [], snapshots: [] };

describe('report: label issues', () => {
  it('has a label-issues chart only for projects with label-issue rounds, the same bytes every time', () => {
    expect(renderReport(empty)).not.toContain('Label issues');
    const labelIssues = [
      { round_id: 'R1', label: 'a', flagged: 10, reviewed: 10, changed: 8, noise_rate: 0.2 },
      { round_id: 'R1', label: 'b', flagged: 5, reviewed: 4, changed: 1, noise_rate: 0.1 },
      { round_id: 'R2', label: 'a', flagged: 3, reviewed: 0, changed: 0, noise_rate: null },
    ];
    const html = renderReport({ ...empty, labelIssues });
    expect(html).toContain('<h2>Label issues</h2>');
    expect(html.slice(html.indexOf('<h2>Label issues</h2>'))).toContain('<svg');
    expect(renderReport({ ...empty, labelIssues })).toBe(html);
  });
});
